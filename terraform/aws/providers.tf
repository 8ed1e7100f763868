provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = "eventsuite"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
