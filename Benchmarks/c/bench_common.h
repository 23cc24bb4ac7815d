/* Shared by the C baselines in scripts/bench: a monotonic clock and one JSON POST easy handle. */
#ifndef ROM_BENCH_COMMON_H
#define ROM_BENCH_COMMON_H
#include <curl/curl.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static size_t discard(char *p, size_t s, size_t n, void *u) { (void)p; (void)u; return s * n; }

/* A POST of `body` to `url`, ready for a multi handle; the response body is thrown away. */
static CURL *http_handle(const char *url, const char *body, struct curl_slist *headers) {
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    return h;
}
#endif
