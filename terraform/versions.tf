terraform {
  # 1.6 is the floor for the syntax used here (optional() object attributes with defaults,
  # preconditions); nothing needs a newer release.
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    # Runs scripts/package_functions.py while planning, so one `terraform apply` builds the zips
    # and knows their hashes before any upload (the archive provider cannot merge three folders
    # plus a generated requirements.txt into one deterministic zip).
    external = {
      source  = "hashicorp/external"
      version = "~> 2.3"
    }
  }
}
