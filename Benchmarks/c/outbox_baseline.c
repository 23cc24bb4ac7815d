/* Second baseline for scripts/bench: the C client's sends plus the least durable bookkeeping a transactional
 * outbox needs, in plain C with prepared statements — what any implementation of rom's dispatcher must at least
 * do on this machine. Same SQLite settings as rom (WAL, synchronous=FULL, 64 MB cache), the same outbox indexes,
 * three outbox rows (one per prompt) per message, batches of 999 rows (333 messages):
 *   claim:  BEGIN IMMEDIATE; select due rows; per row: status sending + attempt + lease, a transition row; COMMIT
 *   tokens: one check-in token row per message, committed before sending
 *   send:   one JSON POST per message through one multi handle, CONCURRENCY in flight
 *   record: per row: fenced update to accepted + provider id, a transition row; per prompt: sent/accepted; COMMIT
 * It skips what rom also does: send-time facts (consent, erasure, closing, the daily cap), rendering, signing.
 *   outbox_baseline DBFILE URL N CONCURRENCY BODY
 * Prints one JSON line: {"client":"c+sqlite", "mode":"http", "count":N, "seconds":S, "per_second":R}
 */
#include <curl/curl.h>
#include "bench_common.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>



static sqlite3 *db;
static void exec(const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &error) != SQLITE_OK) { fprintf(stderr, "%s: %s\n", sql, error); exit(1); }
}
static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) { fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db)); exit(1); }
    return s;
}
static void step(sqlite3_stmt *s) {
    if (sqlite3_step(s) != SQLITE_DONE) { fprintf(stderr, "step: %s\n", sqlite3_errmsg(db)); exit(1); }
    sqlite3_reset(s);
}
/* Time-ordered ids, like rom's: a counter after a fixed prefix. */
static long serial = 0;
static void new_id(char *out, const char *prefix) { snprintf(out, 40, "%s%013ld%012ld", prefix, 1795510800000L + serial / 1000, serial); serial++; }

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: outbox_baseline DBFILE URL N CONCURRENCY BODY\n"); return 2; }
    const char *url = argv[2], *body = argv[5];
    long count = atol(argv[3]);
    int width = atoi(argv[4]);
    /* OUTBOX_ROWS=1: one outbox row per message instead of one per prompt (the design rom has not adopted yet). */
    int per_message = getenv("OUTBOX_ROWS") && atoi(getenv("OUTBOX_ROWS")) == 1 ? 1 : 3;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) { fprintf(stderr, "open failed\n"); return 1; }
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;");
    exec("CREATE TABLE prompts (id TEXT PRIMARY KEY, person_id TEXT NOT NULL, status TEXT NOT NULL, delivery TEXT);"
         "CREATE INDEX prompts_person ON prompts (person_id, status);"
         "CREATE TABLE outbox_messages (id TEXT PRIMARY KEY, prompt_id TEXT, person_id TEXT NOT NULL, purpose TEXT NOT NULL, channel TEXT NOT NULL,"
         " gateway TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, due_at_ms BIGINT NOT NULL, lease_token TEXT,"
         " lease_until_ms BIGINT, idempotency_key TEXT NOT NULL, provider_message_id TEXT, payload TEXT NOT NULL, last_error TEXT,"
         " created_at_ms BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL);"
         "CREATE INDEX outbox_prompt ON outbox_messages (prompt_id);"
         "CREATE UNIQUE INDEX outbox_key ON outbox_messages (idempotency_key, purpose);"
         "CREATE INDEX outbox_provider ON outbox_messages (gateway, provider_message_id);"
         "CREATE INDEX outbox_person ON outbox_messages (person_id, status, updated_at_ms);"
         "CREATE INDEX outbox_claim ON outbox_messages (due_at_ms, person_id) WHERE status = 'queued';"
         "CREATE INDEX outbox_lease ON outbox_messages (lease_until_ms) WHERE status = 'sending';"
         "CREATE TABLE outbox_transitions (id TEXT PRIMARY KEY, message_id TEXT NOT NULL REFERENCES outbox_messages (id), from_status TEXT,"
         " to_status TEXT NOT NULL, detail TEXT, at_ms BIGINT NOT NULL);"
         "CREATE INDEX outbox_transitions_message ON outbox_transitions (message_id, at_ms);"
         "CREATE TABLE checkin_tokens (token_hash TEXT PRIMARY KEY, person_id TEXT NOT NULL, created_at_ms BIGINT NOT NULL,"
         " expires_at_ms BIGINT NOT NULL, used_at_ms BIGINT, purpose TEXT NOT NULL DEFAULT 'form');");

    /* Seed (not timed): a person per message, three prompts each, one outbox row per prompt. */
    exec("BEGIN");
    sqlite3_stmt *prompt = prepare("INSERT INTO prompts (id, person_id, status) VALUES (?, ?, 'scheduled')");
    sqlite3_stmt *row = prepare("INSERT INTO outbox_messages (id, prompt_id, person_id, purpose, channel, gateway, status, due_at_ms, idempotency_key,"
                                " payload, created_at_ms, updated_at_ms) VALUES (?, ?, ?, 'prompt', 'sms', 'bench-sms', 'queued', 1, ?, '{}', 0, 0)");
    char id[48], pid[48], person[48];
    for (long i = 0; i < count; i++) {
        snprintf(person, sizeof person, "p%ld", i);
        for (int k = 0; k < 3; k++) {
            new_id(pid, "pr_");
            sqlite3_bind_text(prompt, 1, pid, -1, SQLITE_TRANSIENT); sqlite3_bind_text(prompt, 2, person, -1, SQLITE_TRANSIENT); step(prompt);
            if (k >= per_message) continue;
            new_id(id, "ob_");
            sqlite3_bind_text(row, 1, id, -1, SQLITE_TRANSIENT); sqlite3_bind_text(row, 2, pid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(row, 3, person, -1, SQLITE_TRANSIENT); sqlite3_bind_text(row, 4, pid, -1, SQLITE_TRANSIENT); step(row);
        }
    }
    exec("COMMIT");

    sqlite3_stmt *due = prepare("SELECT id, person_id, prompt_id FROM outbox_messages WHERE status = 'queued' AND due_at_ms <= 2"
                                " ORDER BY due_at_ms, person_id LIMIT ?");
    sqlite3_bind_int(due, 1, 333 * per_message);
    sqlite3_stmt *claim = prepare("UPDATE outbox_messages SET status = 'sending', attempt = attempt + 1, lease_token = ?, lease_until_ms = 60000,"
                                  " updated_at_ms = 2 WHERE id = ?");
    sqlite3_stmt *transition = prepare("INSERT INTO outbox_transitions (id, message_id, from_status, to_status, detail, at_ms) VALUES (?, ?, ?, ?, ?, 2)");
    sqlite3_stmt *token = prepare("INSERT INTO checkin_tokens (token_hash, person_id, created_at_ms, expires_at_ms) VALUES (?, ?, 2, 604800000)");
    sqlite3_stmt *accept = prepare("UPDATE outbox_messages SET status = 'accepted', provider_message_id = ?, lease_token = NULL, lease_until_ms = NULL,"
                                   " updated_at_ms = 3 WHERE id = ? AND status = 'sending' AND lease_token = ?");
    sqlite3_stmt *sent_all = prepare("UPDATE prompts SET status = CASE WHEN status = 'scheduled' THEN 'sent' ELSE status END, delivery = 'accepted'"
                                     " WHERE person_id = ?");
    sqlite3_stmt *sent = prepare("UPDATE prompts SET status = CASE WHEN status = 'scheduled' THEN 'sent' ELSE status END, delivery = 'accepted' WHERE id = ?");

    curl_global_init(CURL_GLOBAL_ALL);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    CURLM *multi = curl_multi_init();
    static char ids[1000][48], persons[1000][48], prompts[1000][48];
    long accepted = 0, batch = 0;
    double start = now();
    for (;;) {
        char lease[48];
        new_id(lease, "ls_");
        exec("BEGIN IMMEDIATE");
        int rows = 0;
        while (sqlite3_step(due) == SQLITE_ROW) {
            snprintf(ids[rows], 48, "%s", (const char *)sqlite3_column_text(due, 0));
            snprintf(persons[rows], 48, "%s", (const char *)sqlite3_column_text(due, 1));
            snprintf(prompts[rows], 48, "%s", (const char *)sqlite3_column_text(due, 2));
            rows++;
        }
        sqlite3_reset(due);
        if (rows == 0) { exec("COMMIT"); break; }
        for (int i = 0; i < rows; i++) {
            sqlite3_bind_text(claim, 1, lease, -1, SQLITE_STATIC); sqlite3_bind_text(claim, 2, ids[i], -1, SQLITE_STATIC); step(claim);
            new_id(id, "ot_");
            sqlite3_bind_text(transition, 1, id, -1, SQLITE_TRANSIENT); sqlite3_bind_text(transition, 2, ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(transition, 3, "queued", -1, SQLITE_STATIC); sqlite3_bind_text(transition, 4, "sending", -1, SQLITE_STATIC);
            sqlite3_bind_text(transition, 5, "attempt 1", -1, SQLITE_STATIC); step(transition);
        }
        exec("COMMIT");
        /* Rows come person by person; a message is one person's three rows. */
        int messages = 0, first[1000];
        for (int i = 0; i < rows; i++) if (i == 0 || strcmp(persons[i], persons[i - 1]) != 0) first[messages++] = i;
        exec("BEGIN IMMEDIATE");
        for (int m = 0; m < messages; m++) {
            char hash[80];
            snprintf(hash, sizeof hash, "%064ld", batch * 1000 + m);
            sqlite3_bind_text(token, 1, hash, -1, SQLITE_TRANSIENT); sqlite3_bind_text(token, 2, persons[first[m]], -1, SQLITE_STATIC); step(token);
        }
        exec("COMMIT");
        int started = 0, done = 0;
        while (done < messages) {
            /* Fill free slots before polling: a fast peer can finish every transfer in one perform. */
            while (started - done < width && started < messages) { curl_multi_add_handle(multi, http_handle(url, body, headers)); started++; }
            int running, queued;
            curl_multi_perform(multi, &running);
            CURLMsg *msg;
            while ((msg = curl_multi_info_read(multi, &queued))) {
                if (msg->msg != CURLMSG_DONE) continue;
                if (msg->data.result != CURLE_OK) fprintf(stderr, "error %d\n", msg->data.result);
                curl_multi_remove_handle(multi, msg->easy_handle);
                curl_easy_cleanup(msg->easy_handle);
                done++;
            }
            while (started - done < width && started < messages) { curl_multi_add_handle(multi, http_handle(url, body, headers)); started++; }
            if (done < messages) curl_multi_poll(multi, NULL, 0, 1000, NULL);
        }
        exec("BEGIN IMMEDIATE");
        for (int i = 0; i < rows; i++) {
            sqlite3_bind_text(accept, 1, "ok", -1, SQLITE_STATIC); sqlite3_bind_text(accept, 2, ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(accept, 3, lease, -1, SQLITE_STATIC); step(accept);
            new_id(id, "ot_");
            sqlite3_bind_text(transition, 1, id, -1, SQLITE_TRANSIENT); sqlite3_bind_text(transition, 2, ids[i], -1, SQLITE_STATIC);
            sqlite3_bind_text(transition, 3, "sending", -1, SQLITE_STATIC); sqlite3_bind_text(transition, 4, "accepted", -1, SQLITE_STATIC);
            sqlite3_bind_text(transition, 5, "ok", -1, SQLITE_STATIC); step(transition);
            if (per_message == 3) { sqlite3_bind_text(sent, 1, prompts[i], -1, SQLITE_STATIC); step(sent); }
            else { sqlite3_bind_text(sent_all, 1, persons[i], -1, SQLITE_STATIC); step(sent_all); }
        }
        exec("COMMIT");
        accepted += messages;
        batch++;
    }
    double seconds = now() - start;
    printf("{\"client\":\"c+sqlite\",\"mode\":\"http\",\"rows_per_message\":%d,\"count\":%ld,\"seconds\":%f,\"per_second\":%.1f}\n", per_message, accepted, seconds, accepted / seconds);
    return accepted == count ? 0 : 1;
}
