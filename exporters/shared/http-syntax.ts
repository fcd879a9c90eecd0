// HTTP/1.1 syntax shared by resetwatch's own HTTP: the metrics endpoint (exporters/prometheus/http1.ts)
// and the OTLP sender (exporters/otel/post.ts).

/** A header name or method: an RFC 9110 5.1 token, as node:http accepts. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
