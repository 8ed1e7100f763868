data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  # Globally unique, deterministic bucket names: <prefix>-<role>-<account>-<region>.
  bucket_suffix = "${local.account_id}-${local.region}"

  # ---------------------------------------------------------------------------
  # Derived names (the same rule on every cloud, see functions/README.md)
  # ---------------------------------------------------------------------------
  consumers = {
    for name, c in var.consumers : name => merge(c, {
      function_name = "${var.name_prefix}-${name}"
      queue_name    = "${var.name_prefix}-${name}"
      dlq_name      = "${var.name_prefix}-${name}-dlq"
      rule_name     = "${var.name_prefix}-${name}"
      # AWS: visibility timeout >= 6 x function timeout + batching window.
      visibility_timeout = min(43200, max(30, 6 * c.timeout_seconds + var.batching_window_seconds))
      # Unknown event names are reported by the precondition on the bus.
      detail_types = distinct([for e in c.subscribes : try(var.events[e].type, e)])
    })
  }

  # Consumers fed by S3 "Object Created" events of the uploads bucket (default bus).
  upload_consumers = {
    for name, c in local.consumers : name => merge(c, {
      uploads_rule_name = "${var.name_prefix}-${name}-uploads"
    }) if contains(c.subscribes, var.upload_event_name)
  }

  # Catalog schedules: an EventBridge Scheduler schedule invoking a Lambda function.
  schedules = {
    for name, s in var.schedules : name => merge(s, {
      function_name       = "${var.name_prefix}-${name}"
      schedule_name       = "${var.name_prefix}-${name}"
      dlq_name            = "${var.name_prefix}-${name}-dlq"
      scheduler_role_name = "${var.name_prefix}-${name}-scheduler"
      # rate() takes the singular unit for 1.
      expression = s.every_minutes == 1 ? "rate(1 minute)" : "rate(${s.every_minutes} minutes)"
      # A run that could not start within one period is superseded by the next one: neither
      # the scheduler (60-86400 s) nor Lambda's asynchronous retries (60-21600 s) keep it longer.
      invoke_max_age_seconds = min(86400, max(60, s.every_minutes * 60))
      retry_max_age_seconds  = min(21600, max(60, s.every_minutes * 60))
      # Errors summed over one period: a job failing run after run stays in ALARM.
      alarm_period_seconds = min(86400, s.every_minutes * 60)
    })
  }

  # Every Lambda function: one per consumer, one per HTTP endpoint, one per schedule.
  functions = merge(
    {
      for name, c in var.consumers : name => {
        kind        = "consumer"
        group       = c.group
        description = c.description
        handler     = "functions.aws.entrypoint.handle_queue"
        memory_mb   = c.memory_mb
        timeout     = c.timeout_seconds
        name        = "${var.name_prefix}-${name}"
        extra_env = {
          EVENTSUITE_CONSUMER = name
          EVENTSUITE_DLQ_URL  = aws_sqs_queue.dlq[name].url
        }
      }
    },
    {
      for name, e in var.http_endpoints : name => {
        kind        = "http"
        group       = e.group
        description = e.description
        handler     = "functions.aws.entrypoint.handle_http"
        memory_mb   = e.memory_mb
        timeout     = e.timeout_seconds
        name        = "${var.name_prefix}-${name}"
        extra_env   = { EVENTSUITE_ENDPOINT = name }
      }
    },
    {
      for name, s in local.schedules : name => {
        kind        = "schedule"
        group       = s.group
        description = s.description
        handler     = "functions.aws.entrypoint.handle_schedule"
        memory_mb   = s.memory_mb
        timeout     = s.timeout_seconds
        name        = s.function_name
        extra_env   = { EVENTSUITE_SCHEDULE = name }
      }
    },
  )

  groups = distinct([for f in values(local.functions) : f.group])

  # ---------------------------------------------------------------------------
  # Storage
  # ---------------------------------------------------------------------------
  buckets = {
    uploads = {
      name            = "${var.name_prefix}-uploads-${local.bucket_suffix}"
      expiration_days = null
    }
    thumbnails = {
      name            = "${var.name_prefix}-thumbnails-${local.bucket_suffix}"
      expiration_days = null
    }
    claims = {
      name            = "${var.name_prefix}-claims-${local.bucket_suffix}"
      expiration_days = var.claims_expiration_days
    }
  }

  access_logs_bucket_name = "${var.name_prefix}-access-logs-${local.bucket_suffix}"

  table_names = {
    index       = "${var.name_prefix}-index"
    idempotency = "${var.name_prefix}-idempotency"
    orders      = "${var.name_prefix}-orders"
  }

  orders_idempotency_index = "idempotency_key-index"
  # Orders by status and placed_at: the order reconciler's query (orders still PLACED).
  orders_status_index = "status-placed_at-index"
  orders_outbox_index = "outbox_pending-updated_at-index"

  bus_name = "${var.name_prefix}-events"

  # ---------------------------------------------------------------------------
  # Environment (deployment contract, functions/README.md)
  # ---------------------------------------------------------------------------
  common_env = merge(
    {
      EVENTSUITE_UPLOADS_BUCKET     = aws_s3_bucket.this["uploads"].bucket
      EVENTSUITE_THUMBNAILS_BUCKET  = aws_s3_bucket.this["thumbnails"].bucket
      EVENTSUITE_CLAIMS_BUCKET      = aws_s3_bucket.this["claims"].bucket
      EVENTSUITE_EVENT_BUS          = aws_cloudwatch_event_bus.this.name
      EVENTSUITE_INDEX_TABLE        = aws_dynamodb_table.index.name
      EVENTSUITE_IDEMPOTENCY_TABLE  = aws_dynamodb_table.idempotency.name
      EVENTSUITE_ORDERS_TABLE       = aws_dynamodb_table.orders.name
      EVENTSUITE_MAILER             = var.mailer
      EVENTSUITE_MAIL_FROM          = var.mail_from
      EVENTSUITE_WEBHOOK_SECRET_ARN = aws_secretsmanager_secret.webhook.arn
      EVENTSUITE_PAYMENT_PROVIDER   = var.payment_provider
    },
    var.mailer == "smtp" && var.smtp != null ? {
      EVENTSUITE_SMTP_HOST     = var.smtp.host
      EVENTSUITE_SMTP_PORT     = tostring(var.smtp.port)
      EVENTSUITE_SMTP_USERNAME = var.smtp.username
      EVENTSUITE_SMTP_STARTTLS = var.smtp.starttls ? "true" : "false"
    } : {},
  )

  # The mail functions (grants.tf) read the SMTP password from its secret at start-up; the
  # password itself is in no environment and, written write-only, in no state.
  smtp_secret_env = { for arn in aws_secretsmanager_secret.smtp[*].arn : "EVENTSUITE_SMTP_PASSWORD_SECRET_ARN" => arn }

  # The payments function reads the Stripe key from its secret on its first charge; the key is
  # in no environment and, put out of band, in no state.
  stripe_secret_env = { for arn in aws_secretsmanager_secret.stripe[*].arn : "EVENTSUITE_STRIPE_API_KEY_SECRET_ARN" => arn }

  # ---------------------------------------------------------------------------
  # Alarms
  # ---------------------------------------------------------------------------
  alarm_actions = concat(aws_sns_topic.alarms[*].arn, var.alarm_action_arns)
}
