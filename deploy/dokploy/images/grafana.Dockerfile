# Grafana 11.6.0 (the version the dashboards are generated for) with deploy/dokploy/grafana/
# baked in (build context: deploy/dokploy): the dashboards at /etc/grafana/bizos/ (where
# grafana/provisioning/dashboards/ points), the provisioning, and the Loki datasource.
FROM grafana/grafana:11.6.0
COPY grafana/ /etc/grafana/bizos/
COPY grafana/provisioning/ /etc/grafana/provisioning/
COPY loki/datasource.yml /etc/grafana/provisioning/datasources/loki.yml
