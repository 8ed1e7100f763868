# No alarm topic and no alarm actions: the alarms still exist, with nowhere to notify.
harness_create_alarm_topic = false
alarm_email                = null
payment_provider           = "simulated"
