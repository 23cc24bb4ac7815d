import Prometheus

/// The service's Prometheus metrics. Labels never carry personal data: routes are templates, not paths.
enum Metrics {
    static var httpRequests: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "http_requests", unitName: "total",
                                                   helpText: "HTTP requests by route template and status") }
    static var backgroundTicks: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "background_ticks", unitName: "total",
                                                      helpText: "Completed ticks of each background service") }
    static var dispatchedMessages: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "dispatch_messages", unitName: "total",
                                                          helpText: "Outbox messages by gateway and outcome (accepted, retried, failed, expired)") }
    static var outboxDueRows: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "outbox_due", unitName: "rows",
                                                     helpText: "Outbox rows due and still queued after the last dispatch") }
    static var undeliverableAlerts: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "alerts_undeliverable", unitName: "total",
                                                           helpText: "Urgent flag alerts and escalations that dead-lettered (any increase needs a person)") }
    static var securityEvents: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "security_events", unitName: "total",
                                                      helpText: "Refused requests by event (bad_signature, replayed_token) and route template") }
    static var outboxOldestDue: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "outbox_oldest_due_age", unitName: "seconds",
                                                       helpText: "How long the oldest due, still queued outbox row has waited (0 when none)") }
    static var replyQueueFull: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "reply_queue_full", unitName: "total",
                                                      helpText: "Stored replies the full processing queue did not take (remembered and processed when a worker has room, or by the sweeper)") }
    static var serviceRan: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "service_ran", unitName: nil,
                                                  helpText: "1 when this instance's last turn ran the job (scheduler, sweeper), 0 when another instance held it") }
    static var serviceLastRun: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "service_last_run", unitName: "timestamp_seconds",
                                                      helpText: "When this instance last ran the job (its clock)") }
    static var serviceRunDuration: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "service_run_duration", unitName: "seconds",
                                                          helpText: "How long this instance's last run of the job took") }
}
