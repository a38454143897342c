provider "google" {
  project = var.project_id
  region  = var.region

  # Every resource that supports labels gets these, so cost reports can be filtered by system.
  default_labels = var.labels
}
