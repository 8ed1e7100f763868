terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 7.x: the major the configuration is checked against offline (7.46.1 schema). It also
      # validates against 8.7.0; see ../modules/gcp-suite/README.md before moving to ~> 8.0.
      version = "~> 7.0"
    }
  }
}
