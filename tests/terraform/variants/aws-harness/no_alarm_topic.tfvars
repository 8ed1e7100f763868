# Alarms to existing SNS topics instead of the suite's own; a longer batching window.
harness_create_alarm_topic      = false
harness_alarm_action_arns       = ["arn:aws:sns:eu-west-1:123456789012:ops-alarms"]
harness_batching_window_seconds = 5
payment_provider                = "stripe"
