variable "harness_create_alarm_topic" {
  description = "aws-suite create_alarm_topic."
  type        = bool
  default     = true
}

variable "harness_alarm_action_arns" {
  description = "aws-suite alarm_action_arns."
  type        = list(string)
  default     = []
}

variable "harness_webhook_secret_readers" {
  description = "aws-suite webhook_secret_readers."
  type        = list(string)
  default     = ["payment_webhook"]
}

variable "harness_signed_webhook_endpoints" {
  description = "aws-suite signed_webhook_endpoints."
  type        = list(string)
  default     = ["payment_webhook"]
}

variable "harness_batching_window_seconds" {
  description = "aws-suite batching_window_seconds."
  type        = number
  default     = 1
}
