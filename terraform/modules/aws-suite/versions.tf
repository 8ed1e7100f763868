terraform {
  required_version = ">= 1.11" # ephemeral variables, write-only secret values

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
