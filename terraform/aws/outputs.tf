output "uploads_bucket" {
  description = "Uploads bucket (objects under the catalog uploads prefix trigger the image consumers)."
  value       = module.suite.uploads_bucket
}

output "thumbnails_bucket" {
  description = "Thumbnails bucket."
  value       = module.suite.thumbnails_bucket
}

output "claims_bucket" {
  description = "Claims bucket."
  value       = module.suite.claims_bucket
}

output "event_bus_name" {
  description = "EventBridge custom bus name."
  value       = module.suite.event_bus_name
}

output "event_bus_arn" {
  description = "EventBridge custom bus ARN."
  value       = module.suite.event_bus_arn
}

output "queues" {
  description = "Per consumer: queue and DLQ URLs and ARNs."
  value       = module.suite.queues
}

output "function_names" {
  description = "Lambda function names."
  value       = module.suite.function_names
}

output "schedule_function_names" {
  description = "Catalog schedule name => Lambda function name (run on its EventBridge Scheduler schedule)."
  value       = module.suite.schedule_function_names
}

output "schedules" {
  description = "Per catalog schedule: schedule ARN, rate expression, dead-letter queue URL and ARN."
  value       = module.suite.schedules
}

output "api_endpoint" {
  description = "HTTP API base URL."
  value       = module.suite.api_endpoint
}

output "http_route_authorization" {
  description = "HTTP endpoint name => route authorization (AWS_IAM, JWT or NONE)."
  value       = module.suite.http_route_authorization
}

output "http_route_invoke_arns" {
  description = "HTTP endpoint name => execute-api ARN to grant execute-api:Invoke on (orders_api_auth.mode = AWS_IAM)."
  value       = module.suite.http_route_invoke_arns
}

output "table_names" {
  description = "DynamoDB table names."
  value       = module.suite.table_names
}

output "webhook_secret_arn" {
  description = "Secret to fill with the webhook HMAC secret(s)."
  value       = module.suite.webhook_secret_arn
}

output "kms_key_arn" {
  description = "Suite KMS key ARN."
  value       = module.suite.kms_key_arn
}

output "alarm_topic_arn" {
  description = "Alarm SNS topic ARN."
  value       = module.suite.alarm_topic_arn
}

output "smtp_password_secret_arn" {
  description = "Secrets Manager secret to fill with the SMTP relay's password (mailer = smtp)."
  value       = module.suite.smtp_password_secret_arn
}

output "stripe_api_key_secret_arn" {
  description = "Secrets Manager secret to fill with the Stripe secret API key (`aws secretsmanager put-secret-value`); null with payment_provider = simulated."
  value       = module.suite.stripe_api_key_secret_arn
}
