# Grafana Alloy shipping the stack's container logs to Loki (build context: deploy/dokploy).
FROM grafana/alloy:v1.10.0
COPY alloy/config.alloy /etc/alloy/config.alloy
