# Prometheus with the scrape config and alert rules of deploy/dokploy/prometheus/ baked in
# (build context: deploy/dokploy). Dokploy re-clones the repository on every deploy, so the
# configuration travels in the image instead of a bind mount.
FROM prom/prometheus:v2.55.1
COPY prometheus/ /etc/prometheus/
