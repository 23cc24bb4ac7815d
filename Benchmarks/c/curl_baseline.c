/* Baseline for scripts/bench: the same work as rom's dispatcher's network part, in plain C.
 *   curl_baseline http URL N CONCURRENCY BODY   -- N JSON POSTs through one multi handle, CONCURRENCY in flight
 *   curl_baseline smtp URL N FROM TO            -- N messages over one reused SMTP connection
 * Prints one JSON line: {"client":"c", "mode":..., "count":N, "seconds":S, "per_second":R, "connects":C}
 */
#include <curl/curl.h>
#include "bench_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


struct upload { const char *data; size_t len, off; };
static size_t feed(char *buf, size_t s, size_t n, void *u) {
    struct upload *up = u; size_t room = s * n, left = up->len - up->off, k = left < room ? left : room;
    memcpy(buf, up->data + up->off, k); up->off += k; return k;
}



int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: see the comment at the top\n"); return 2; }
    curl_global_init(CURL_GLOBAL_ALL);
    const char *mode = argv[1], *url = argv[2];
    long count = atol(argv[3]), connects = 0;
    double start = now();
    if (strcmp(mode, "http") == 0) {
        int width = atoi(argv[4]);
        const char *body = argv[5];
        struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:");
        CURLM *multi = curl_multi_init();
        long started = 0, done = 0;
        for (; started < count && started < width; started++) curl_multi_add_handle(multi, http_handle(url, body, headers));
        while (done < count) {
            int running, queued;
            curl_multi_perform(multi, &running);
            CURLMsg *m;
            while ((m = curl_multi_info_read(multi, &queued))) {
                if (m->msg != CURLMSG_DONE) continue;
                long c = 0; curl_easy_getinfo(m->easy_handle, CURLINFO_NUM_CONNECTS, &c); connects += c;
                if (m->data.result != CURLE_OK) fprintf(stderr, "error %d\n", m->data.result);
                curl_multi_remove_handle(multi, m->easy_handle);
                curl_easy_cleanup(m->easy_handle);
                done++;
                if (started < count) { curl_multi_add_handle(multi, http_handle(url, body, headers)); started++; }
            }
            if (done < count) curl_multi_poll(multi, NULL, 0, 1000, NULL);
        }
        curl_multi_cleanup(multi);
    } else {
        const char *from = argv[4], *to = argv[5];
        char message[2048];
        snprintf(message, sizeof message, "Date: Tue, 24 Nov 2026 09:00:00 +0000\r\nFrom: <%s>\r\nTo: <%s>\r\nMessage-ID: <bench@example.org>\r\n"
                 "Subject: Your check-in is ready\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                 "Hi Ana,\r\n\r\nIt's time for your check-in: http://127.0.0.1:8080/c/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\r\n", from, to);
        CURL *h = curl_easy_init();
        struct curl_slist *rcpt = NULL; char bracketed[512]; snprintf(bracketed, sizeof bracketed, "<%s>", to);
        rcpt = curl_slist_append(rcpt, bracketed);
        char sender[512]; snprintf(sender, sizeof sender, "<%s>", from);
        for (long i = 0; i < count; i++) {
            struct upload up = { message, strlen(message), 0 };
            curl_easy_setopt(h, CURLOPT_URL, url);
            curl_easy_setopt(h, CURLOPT_MAIL_FROM, sender);
            curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, feed);
            curl_easy_setopt(h, CURLOPT_READDATA, &up);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.len);
            CURLcode rc = curl_easy_perform(h);
            if (rc != CURLE_OK) fprintf(stderr, "error %d\n", rc);
            long c = 0; curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &c); connects += c;
        }
        curl_easy_cleanup(h);
    }
    double seconds = now() - start;
    printf("{\"client\":\"c\",\"mode\":\"%s\",\"count\":%ld,\"seconds\":%.6f,\"per_second\":%.1f,\"connects\":%ld}\n",
           mode, count, seconds, count / seconds, connects);
    return 0;
}
