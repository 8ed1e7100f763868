output "uploads_bucket" {
  description = "Uploads bucket: objects created under the uploads prefix become ImageUploaded deliveries."
  value       = aws_s3_bucket.this["uploads"].bucket
}

output "thumbnails_bucket" {
  description = "Thumbnails bucket (separate from uploads: no trigger loop)."
  value       = aws_s3_bucket.this["thumbnails"].bucket
}

output "claims_bucket" {
  description = "Claims bucket for claim-checked payloads."
  value       = aws_s3_bucket.this["claims"].bucket
}

output "access_logs_bucket" {
  description = "Bucket receiving S3 server access logs of the other buckets."
  value       = aws_s3_bucket.access_logs.bucket
}

output "event_bus_name" {
  description = "EventBridge custom bus name (EVENTSUITE_EVENT_BUS)."
  value       = aws_cloudwatch_event_bus.this.name
}

output "event_bus_arn" {
  description = "EventBridge custom bus ARN."
  value       = aws_cloudwatch_event_bus.this.arn
}

output "queues" {
  description = "Per consumer: queue and dead-letter queue URLs and ARNs."
  value = {
    for name in keys(local.consumers) : name => {
      queue_url = aws_sqs_queue.queue[name].url
      queue_arn = aws_sqs_queue.queue[name].arn
      dlq_url   = aws_sqs_queue.dlq[name].url
      dlq_arn   = aws_sqs_queue.dlq[name].arn
    }
  }
}

output "queue_urls" {
  description = "Consumer name => queue URL."
  value       = { for name, q in aws_sqs_queue.queue : name => q.url }
}

output "dlq_urls" {
  description = "Consumer name => dead-letter queue URL."
  value       = { for name, q in aws_sqs_queue.dlq : name => q.url }
}

output "function_names" {
  description = "Consumer, HTTP endpoint or schedule name => Lambda function name."
  value       = { for name, f in aws_lambda_function.function : name => f.function_name }
}

output "schedule_function_names" {
  description = "Catalog schedule name => Lambda function name (handler handle_schedule, invoked by its EventBridge Scheduler schedule)."
  value       = { for name in keys(local.schedules) : name => aws_lambda_function.function[name].function_name }
}

output "schedules" {
  description = "Per catalog schedule: EventBridge Scheduler schedule ARN, rate expression, and the dead-letter queue URL and ARN (failed invocations and runs)."
  value = {
    for name, s in aws_scheduler_schedule.schedule : name => {
      schedule_arn        = s.arn
      schedule_expression = s.schedule_expression
      dlq_url             = aws_sqs_queue.schedule_dlq[name].url
      dlq_arn             = aws_sqs_queue.schedule_dlq[name].arn
    }
  }
}

output "api_endpoint" {
  description = "Base URL of the HTTP API (routes `<METHOD> <path>` from the catalog), or null without HTTP endpoints."
  value       = one(aws_apigatewayv2_api.http[*].api_endpoint)
}

output "http_routes" {
  description = "HTTP endpoint name => route key."
  value = merge(
    { for name, r in aws_apigatewayv2_route.endpoint : name => r.route_key },
    { for name, r in aws_apigatewayv2_route.signed_webhook : name => r.route_key },
  )
}

output "http_route_authorization" {
  description = "HTTP endpoint name => authorization of its route: orders_api_auth.mode (AWS_IAM, JWT or NONE), or NONE for signed_webhook_endpoints (HMAC signature checked by the function)."
  value = merge(
    { for name, r in aws_apigatewayv2_route.endpoint : name => r.authorization_type },
    { for name, r in aws_apigatewayv2_route.signed_webhook : name => r.authorization_type },
  )
}

output "http_route_invoke_arns" {
  description = "HTTP endpoint name => execute-api ARN of its route (any stage). With orders_api_auth.mode = AWS_IAM, grant callers `execute-api:Invoke` on it and have them sign requests with SigV4."
  value       = local.route_execution_arns
}

output "table_names" {
  description = "DynamoDB table names: index, idempotency, orders."
  value = {
    index       = aws_dynamodb_table.index.name
    idempotency = aws_dynamodb_table.idempotency.name
    orders      = aws_dynamodb_table.orders.name
  }
}

output "smtp_password_secret_arn" {
  description = "Secrets Manager secret holding the SMTP relay's password (mailer = smtp; null otherwise), read by the mail functions only."
  value       = one(aws_secretsmanager_secret.smtp[*].arn)
}

output "webhook_secret_arn" {
  description = "Secrets Manager secret to fill with the webhook HMAC secret(s) (EVENTSUITE_WEBHOOK_SECRET_ARN)."
  value       = aws_secretsmanager_secret.webhook.arn
}

output "kms_key_arn" {
  description = "Suite KMS key (S3 SSE-KMS, DynamoDB, logs, secret). Direct uploaders need kms:GenerateDataKey on it."
  value       = aws_kms_key.suite.arn
}

output "alarm_topic_arn" {
  description = "SNS topic receiving the alarms, or null when create_alarm_topic = false."
  value       = one(aws_sns_topic.alarms[*].arn)
}

output "stripe_api_key_secret_arn" {
  description = "Secrets Manager secret to fill with the Stripe secret API key (payment_provider = stripe; null otherwise)."
  value       = one(aws_secretsmanager_secret.stripe[*].arn)
}
