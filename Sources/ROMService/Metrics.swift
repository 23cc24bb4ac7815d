import Prometheus

/// The service's Prometheus metrics. Labels never carry personal data: routes are templates, not paths.
enum Metrics {
    static var httpRequests: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "http_requests", unitName: "total",
                                                   helpText: "HTTP requests by route template and status") }
    static var backgroundTicks: MetricNameDescriptor { MetricNameDescriptor(namespace: "rom", metricName: "background_ticks", unitName: "total",
                                                      helpText: "Completed ticks of each background service") }
}
