# ---------------------------------------------------------------------------------------------
# The single HTTPS entry: a global external Application Load Balancer, created when
# var.api_domains is set. Serverless NEGs route by path prefix to the public functions,
# which then accept traffic only from it (ingress ALLOW_INTERNAL_AND_GCLB). Only HTTPS is
# served: no port 80 listener, so no client can send its API key in clear text.
# docs/deploy.md explains why this rather than API Gateway.
# ---------------------------------------------------------------------------------------------

locals {
  load_balancer_count = local.api_via_load_balancer ? 1 : 0
  # Path prefix -> function, for every route of the public functions' ROUTES tables
  # (tests/terraform check it). Anything else goes to status, whose router answers with the
  # API's JSON 404. The scheduler has no path here on purpose: it is private, called by Cloud
  # Scheduler at its own URL, and its ingress refuses the load balancer anyway.
  api_routes = {
    submit = ["/api/v1/pipelines/run/*", "/api/v1/pipelines/backfill/*"]
    status = ["/api/v1/pipelines/runs", "/api/v1/pipelines/runs/*", "/api/v1/pipelines/backfills/*", "/api/v1/focus/*"]
    admin  = ["/api/v1/admin/*", "/api/v1/integrations/*"]
    # the costs function also serves the web console's static files (shared/console)
    costs = ["/api/v1/costs/*", "/api/v1/pipelines", "/api/v1/pipelines/", "/console/*"]
  }
  api_backends = local.api_via_load_balancer ? local.public_functions : toset([])
}

resource "google_compute_global_address" "api" {
  count = local.load_balancer_count

  name = "${var.name_prefix}-api"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_region_network_endpoint_group" "api" {
  for_each = local.api_backends

  name                  = "${var.name_prefix}-api-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  cloud_function {
    function = google_cloudfunctions2_function.function[each.key].name
  }

  depends_on = [google_project_service.enabled] # compute.googleapis.com
}

resource "google_compute_backend_service" "api" {
  for_each = local.api_backends

  name                  = "${var.name_prefix}-api-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"

  backend {
    group = google_compute_region_network_endpoint_group.api[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = 1.0
  }
}

resource "google_compute_url_map" "api" {
  count = local.load_balancer_count

  name            = "${var.name_prefix}-api"
  default_service = google_compute_backend_service.api["status"].id

  host_rule {
    hosts        = var.api_domains
    path_matcher = "api"
  }

  path_matcher {
    name            = "api"
    default_service = google_compute_backend_service.api["status"].id

    dynamic "path_rule" {
      for_each = local.api_routes
      content {
        paths   = path_rule.value
        service = google_compute_backend_service.api[path_rule.key].id
      }
    }

    # the site's root opens the web console
    path_rule {
      paths = ["/"]
      url_redirect {
        path_redirect          = "/console/"
        redirect_response_code = "FOUND"
        strip_query            = true
      }
    }
  }
}

resource "google_compute_managed_ssl_certificate" "api" {
  count = local.load_balancer_count

  # A new domain list needs a new certificate; the name changes with it so the new one can be
  # created before the old one is released.
  name = "${var.name_prefix}-api-${substr(sha256(join(",", var.api_domains)), 0, 8)}"

  managed {
    domains = var.api_domains
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.enabled]
}

resource "google_compute_ssl_policy" "api" {
  count = local.load_balancer_count

  name            = "${var.name_prefix}-api-tls"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"

  depends_on = [google_project_service.enabled]
}

resource "google_compute_target_https_proxy" "api" {
  count = local.load_balancer_count

  name             = "${var.name_prefix}-api"
  url_map          = google_compute_url_map.api[0].id
  ssl_certificates = [google_compute_managed_ssl_certificate.api[0].id]
  ssl_policy       = google_compute_ssl_policy.api[0].id
}

resource "google_compute_global_forwarding_rule" "api" {
  count = local.load_balancer_count

  name                  = "${var.name_prefix}-api-https"
  target                = google_compute_target_https_proxy.api[0].id
  ip_address            = google_compute_global_address.api[0].id
  port_range            = "443"
  ip_protocol           = "TCP"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
