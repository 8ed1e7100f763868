terraform {
  # 1.6: optional object attributes with defaults, `terraform_data`, `check` blocks.
  required_version = ">= 1.6"

  required_providers {
    google = {
      source = "hashicorp/google"
      # Checked offline against the 7.46.1 schema (tests/terraform/schemas/google-7.json.gz) and
      # also against 8.7.0; see README.md for why the pin is on 7.x.
      version = "~> 7.0"
    }
  }
}
