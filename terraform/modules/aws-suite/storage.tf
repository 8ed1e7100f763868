# ---------------------------------------------------------------------------
# Buckets: uploads (triggers the image pipeline), thumbnails (a SEPARATE bucket,
# so writing renditions can never re-trigger the pipeline), claims (claim-checked
# payloads, expired by lifecycle) and access-logs (S3 server access logs of the
# other three).
# ---------------------------------------------------------------------------

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice outside this suite; uploads are versioned and thumbnails are re-derivable
  #checkov:skip=CKV2_AWS_62:Only the uploads bucket feeds the pipeline (aws_s3_bucket_notification.uploads); notifications on thumbnails/claims would have no consumer, and thumbnails must not trigger anything
  for_each = local.buckets

  bucket        = each.value.name
  force_destroy = var.force_destroy_buckets

  tags = merge(var.tags, { Role = each.key })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.suite.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "housekeeping"
    status = "Enabled"

    filter {}

    dynamic "expiration" {
      for_each = each.value.expiration_days == null ? [] : [each.value.expiration_days]
      content {
        days = expiration.value
      }
    }

    noncurrent_version_expiration {
      noncurrent_days = each.value.expiration_days == null ? var.noncurrent_version_expiration_days : 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  for_each = local.buckets

  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# Exactly one notification configuration per bucket: S3 sends every event of
# the uploads bucket to EventBridge (default bus); the rules in events.tf filter
# on "Object Created" and the uploads prefix.
resource "aws_s3_bucket_notification" "uploads" {
  bucket      = aws_s3_bucket.this["uploads"].id
  eventbridge = true
}

# ---------------------------------------------------------------------------
# Access-logs bucket (target of S3 server access logging)
# ---------------------------------------------------------------------------

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log target bucket; logging it into itself would loop
  #checkov:skip=CKV_AWS_144:Access logs are audit data kept in-region; cross-region replication is out of scope
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the access-logs bucket
  #checkov:skip=CKV_AWS_145:S3 server access logging only delivers to SSE-S3 (AES256) target buckets, not SSE-KMS
  bucket        = local.access_logs_bucket_name
  force_destroy = var.force_destroy_buckets

  tags = merge(var.tags, { Role = "access-logs" })
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "S3ServerAccessLogsDelivery"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.access_logs.arn}/*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = [for b in aws_s3_bucket.this : b.arn] }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# ---------------------------------------------------------------------------
# DynamoDB: metadata index, idempotency claims (TTL), orders
# ---------------------------------------------------------------------------

resource "aws_dynamodb_table" "index" {
  name                        = local.table_names.index
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "image_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "image_id"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.suite.arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "idempotency" {
  name                        = local.table_names.idempotency
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "key"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "key"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.suite.arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

resource "aws_dynamodb_table" "orders" {
  name                        = local.table_names.orders
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "order_id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "order_id"
    type = "S"
  }

  attribute {
    name = "idempotency_key"
    type = "S"
  }

  attribute {
    name = "status"
    type = "S"
  }

  attribute {
    name = "placed_at"
    type = "S"
  }

  attribute {
    name = "outbox_pending"
    type = "S"
  }

  attribute {
    name = "updated_at"
    type = "S"
  }

  global_secondary_index {
    name            = local.orders_idempotency_index
    hash_key        = "idempotency_key"
    projection_type = "ALL"
  }

  # Orders still PLACED in a time window, oldest first: one Query for the order reconciler
  # instead of a Scan of every order ever placed. Guard items (no status) stay out of it.
  global_secondary_index {
    name            = local.orders_status_index
    hash_key        = "status"
    range_key       = "placed_at"
    projection_type = "ALL"
  }

  # The transactional outbox: only orders whose announcements are still pending carry
  # outbox_pending (a sparse index), so the scheduled relay reads just those, oldest first.
  global_secondary_index {
    name            = local.orders_outbox_index
    hash_key        = "outbox_pending"
    range_key       = "updated_at"
    projection_type = "ALL"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.suite.arn
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------
# Webhook HMAC secret: Terraform creates the container only; the operator puts
# the value (comma-separated secrets during rotation) out of band, so it never
# lands in Terraform state:
#   aws secretsmanager put-secret-value --secret-id <arn> --secret-string '<secret>'
# ---------------------------------------------------------------------------

resource "aws_secretsmanager_secret" "webhook" {
  #checkov:skip=CKV2_AWS_57:The value is issued by the payment provider and rotated there; operators put the new value (comma-separated with the old one during overlap) out of band, so a rotation Lambda cannot apply
  name                    = "${var.name_prefix}/payment-webhook-secret"
  description             = "HMAC secret(s) of the payment provider webhooks, comma separated during rotation (EVENTSUITE_WEBHOOK_SECRET_ARN)."
  kms_key_id              = aws_kms_key.suite.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

# The Stripe secret API key (payment_provider = stripe): read by the payments function only
# (grants.tf). Terraform creates the container; the operator puts the key out of band, so it is
# never in the plan, the state or a Lambda environment:
#   aws secretsmanager put-secret-value --secret-id <stripe_api_key_secret_arn> --secret-string 'sk_live_...'
resource "aws_secretsmanager_secret" "stripe" {
  #checkov:skip=CKV2_AWS_57:The key is issued by Stripe and rolled in Stripe's dashboard; operators put the new value, so a rotation Lambda cannot apply
  count = var.payment_provider == "stripe" ? 1 : 0

  name                    = "${var.name_prefix}/stripe-api-key"
  description             = "Stripe secret API key of the payments function (EVENTSUITE_STRIPE_API_KEY_SECRET_ARN)."
  kms_key_id              = aws_kms_key.suite.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

# The SMTP relay's password (mailer = smtp): read by the mail functions only (grants.tf). Its
# value is put out of band (`aws secretsmanager put-secret-value`), or written by Terraform
# write-only from the ephemeral smtp_password when smtp_password_version is set: never in the
# plan, the state or a Lambda environment.
resource "aws_secretsmanager_secret" "smtp" {
  #checkov:skip=CKV2_AWS_57:The relay's password is issued by the mail provider and rotated there; operators put the new value, so a rotation Lambda cannot apply
  count = var.mailer == "smtp" ? 1 : 0

  name                    = "${var.name_prefix}/smtp-password"
  description             = "Password of the SMTP relay (EVENTSUITE_SMTP_PASSWORD_SECRET_ARN of the mail functions)."
  kms_key_id              = aws_kms_key.suite.arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "smtp" {
  count = var.mailer == "smtp" && var.smtp_password_version != null ? 1 : 0

  secret_id                = aws_secretsmanager_secret.smtp[0].id
  secret_string_wo         = var.smtp_password
  secret_string_wo_version = var.smtp_password_version
}
