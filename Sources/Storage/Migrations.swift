/// A numbered schema change; statements may differ per engine (triggers, column types).
struct Migration: Sendable {
    let version: Int
    let name: String
    let statements: @Sendable (Engine) -> [String]
}

/// The SQL engine behind a store.
public enum Engine: String, Sendable {
    case sqlite
    case postgres
}

/// Every migration in order. Append only: never edit one that has shipped.
let migrations: [Migration] = [
    Migration(version: 1, name: "core records") { engine in
        let blob = engine == .sqlite ? "BLOB" : "BYTEA"
        let double = engine == .sqlite ? "REAL" : "DOUBLE PRECISION"
        var statements = [
            """
            CREATE TABLE people (
                id TEXT PRIMARY KEY,
                given_name TEXT NOT NULL,
                timezone TEXT,
                team TEXT NOT NULL,
                clinician TEXT,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                contact_erased_at_ms BIGINT
            )
            """,
            "CREATE INDEX people_team ON people (team)",
            """
            CREATE TABLE contact_points (
                person_id TEXT NOT NULL REFERENCES people (id),
                channel TEXT NOT NULL,
                address TEXT,
                suppressed_at_ms BIGINT,
                created_at_ms BIGINT NOT NULL,
                PRIMARY KEY (person_id, channel)
            )
            """,
            """
            CREATE TABLE consents (
                id TEXT PRIMARY KEY,
                person_id TEXT NOT NULL REFERENCES people (id),
                channel TEXT NOT NULL,
                status TEXT NOT NULL,
                source TEXT NOT NULL,
                inbound_reply_id TEXT,
                recorded_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX consents_person ON consents (person_id, channel, recorded_at_ms)",
            """
            CREATE TABLE enrolments (
                id TEXT PRIMARY KEY,
                person_id TEXT NOT NULL REFERENCES people (id),
                pathway TEXT NOT NULL,
                start_date TEXT NOT NULL,
                mode TEXT NOT NULL DEFAULT 'routine',
                mode_changed_at_ms BIGINT,
                extra_measures TEXT NOT NULL DEFAULT '',
                ended_at_ms BIGINT,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX enrolments_person ON enrolments (person_id)",
            """
            CREATE TABLE reviews (
                id TEXT PRIMARY KEY,
                enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
                review_at_ms BIGINT NOT NULL,
                source TEXT NOT NULL,
                status TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX reviews_enrolment ON reviews (enrolment_id, review_at_ms)",
            """
            CREATE TABLE prompts (
                id TEXT PRIMARY KEY,
                enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
                review_id TEXT NOT NULL,
                person_id TEXT NOT NULL REFERENCES people (id),
                instrument TEXT NOT NULL,
                kind TEXT NOT NULL,
                send_at_ms BIGINT NOT NULL,
                closes_at_ms BIGINT NOT NULL,
                reminders TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL,
                status_reason TEXT,
                idempotency_key TEXT NOT NULL UNIQUE,
                created_at_ms BIGINT NOT NULL,
                answered_at_ms BIGINT,
                UNIQUE (enrolment_id, review_id, instrument, kind)
            )
            """,
            "CREATE INDEX prompts_person ON prompts (person_id, status)",
            """
            CREATE TABLE outbox_messages (
                id TEXT PRIMARY KEY,
                prompt_id TEXT,
                person_id TEXT NOT NULL,
                purpose TEXT NOT NULL,
                channel TEXT NOT NULL,
                gateway TEXT NOT NULL,
                status TEXT NOT NULL,
                attempt INTEGER NOT NULL DEFAULT 0,
                due_at_ms BIGINT NOT NULL,
                lease_token TEXT,
                lease_until_ms BIGINT,
                idempotency_key TEXT NOT NULL,
                provider_message_id TEXT,
                payload TEXT NOT NULL,
                last_error TEXT,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX outbox_due ON outbox_messages (status, due_at_ms)",
            """
            CREATE TABLE outbox_transitions (
                id TEXT PRIMARY KEY,
                message_id TEXT NOT NULL REFERENCES outbox_messages (id),
                from_status TEXT,
                to_status TEXT NOT NULL,
                detail TEXT,
                at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX outbox_transitions_message ON outbox_transitions (message_id, at_ms)",
            """
            CREATE TABLE sandbox_messages (
                id TEXT PRIMARY KEY,
                gateway TEXT NOT NULL,
                channel TEXT NOT NULL,
                recipient TEXT NOT NULL,
                subject TEXT,
                body TEXT NOT NULL,
                link TEXT,
                idempotency_key TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX sandbox_messages_created ON sandbox_messages (created_at_ms)",
            """
            CREATE TABLE inbound_replies (
                id TEXT PRIMARY KEY,
                source TEXT NOT NULL,
                gateway TEXT NOT NULL,
                provider_event_id TEXT NOT NULL,
                content_type TEXT,
                raw_body \(blob) NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                person_id TEXT,
                received_at_ms BIGINT NOT NULL,
                processed_at_ms BIGINT,
                UNIQUE (source, gateway, provider_event_id)
            )
            """,
            "CREATE INDEX inbound_replies_status ON inbound_replies (status, received_at_ms)",
            """
            CREATE TABLE responses (
                id TEXT PRIMARY KEY,
                prompt_id TEXT,
                person_id TEXT NOT NULL REFERENCES people (id),
                instrument TEXT NOT NULL,
                answers TEXT NOT NULL,
                context TEXT NOT NULL DEFAULT '',
                source TEXT NOT NULL,
                inbound_reply_id TEXT,
                submitted_at_ms BIGINT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX responses_person ON responses (person_id, instrument, submitted_at_ms)",
            """
            CREATE TABLE scores (
                id TEXT PRIMARY KEY,
                response_id TEXT NOT NULL REFERENCES responses (id),
                person_id TEXT NOT NULL,
                instrument TEXT NOT NULL,
                definition_version TEXT NOT NULL,
                valid INTEGER NOT NULL,
                total \(double),
                band TEXT,
                result TEXT NOT NULL,
                superseded_by TEXT,
                created_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX scores_response ON scores (response_id)",
            "CREATE INDEX scores_instrument ON scores (instrument, superseded_by)",
            """
            CREATE TABLE flags (
                id TEXT PRIMARY KEY,
                person_id TEXT NOT NULL REFERENCES people (id),
                kind TEXT NOT NULL,
                severity TEXT NOT NULL,
                status TEXT NOT NULL,
                evidence TEXT NOT NULL,
                prompt_id TEXT,
                score_id TEXT,
                raised_at_ms BIGINT NOT NULL,
                acknowledged_by TEXT,
                acknowledged_at_ms BIGINT,
                actioned_by TEXT,
                actioned_at_ms BIGINT,
                note TEXT
            )
            """,
            "CREATE INDEX flags_person ON flags (person_id, status)",
            """
            CREATE TABLE audit_events (
                id TEXT PRIMARY KEY,
                at_ms BIGINT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                person_id TEXT,
                detail TEXT,
                request_id TEXT
            )
            """,
            "CREATE INDEX audit_events_person ON audit_events (person_id, at_ms)",
            """
            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL,
                team TEXT,
                label TEXT,
                created_at_ms BIGINT NOT NULL,
                revoked_at_ms BIGINT
            )
            """,
            """
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                session_hash TEXT NOT NULL UNIQUE,
                token_id TEXT NOT NULL REFERENCES api_tokens (id),
                created_at_ms BIGINT NOT NULL,
                expires_at_ms BIGINT NOT NULL
            )
            """,
        ]
        // The audit trail is append-only for the application (NDG standard 4, R32).
        switch engine {
        case .sqlite:
            statements += [
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
                "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
            ]
        case .postgres:
            statements += [
                """
                CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$
                """,
                "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
            ]
        }
        return statements
    },
    Migration(version: 2, name: "scheduling state") { _ in
        [
            "ALTER TABLE prompts ADD COLUMN review_at_ms BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE prompts ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE prompts ADD COLUMN channel TEXT",
            "CREATE INDEX prompts_enrolment ON prompts (enrolment_id, status)",
            """
            CREATE TABLE missed_checkins (
                enrolment_id TEXT NOT NULL REFERENCES enrolments (id),
                review_key TEXT NOT NULL,
                review_at_ms BIGINT NOT NULL,
                recorded_at_ms BIGINT NOT NULL,
                PRIMARY KEY (enrolment_id, review_key)
            )
            """,
            "ALTER TABLE flags ADD COLUMN enrolment_id TEXT",
            "ALTER TABLE flags ADD COLUMN review_key TEXT",
            "CREATE UNIQUE INDEX flags_non_response ON flags (enrolment_id, kind, review_key)",
            "CREATE INDEX outbox_prompt ON outbox_messages (prompt_id)",
            "CREATE UNIQUE INDEX outbox_key ON outbox_messages (idempotency_key, purpose)",
        ]
    },
    Migration(version: 3, name: "dispatch state") { _ in
        [
            "CREATE INDEX outbox_provider ON outbox_messages (gateway, provider_message_id)",
            "CREATE INDEX outbox_person ON outbox_messages (person_id, status, updated_at_ms)",
            "CREATE INDEX outbox_claim ON outbox_messages (status, due_at_ms, person_id)",
            "CREATE INDEX outbox_lease ON outbox_messages (status, lease_until_ms)",
            """
            CREATE TABLE checkin_tokens (
                token_hash TEXT PRIMARY KEY,
                person_id TEXT NOT NULL REFERENCES people (id),
                created_at_ms BIGINT NOT NULL,
                expires_at_ms BIGINT NOT NULL,
                used_at_ms BIGINT
            )
            """,
            "CREATE INDEX checkin_tokens_person ON checkin_tokens (person_id)",
            """
            CREATE TABLE unsubscribe_tokens (
                token_hash TEXT PRIMARY KEY,
                person_id TEXT NOT NULL REFERENCES people (id),
                channel TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL
            )
            """,
        ]
    },
    Migration(version: 4, name: "intake replies, alerts and drafts") { _ in
        [
            // Urgent flags reach the team through the outbox; escalation when nobody acknowledges in time.
            "ALTER TABLE flags ADD COLUMN alerted_at_ms BIGINT",
            "ALTER TABLE flags ADD COLUMN escalated_at_ms BIGINT",
            "CREATE INDEX flags_alerts ON flags (severity, status, alerted_at_ms)",
            // Reply-by-SMS prompts carry a short code (P7) so a reply can name the prompt it answers.
            "ALTER TABLE prompts ADD COLUMN reply_code TEXT",
            "CREATE INDEX prompts_reply_code ON prompts (person_id, reply_code)",
            // A token opens the form (`form`) or addresses an email reply (`reply`): one cannot stand in for the other.
            "ALTER TABLE checkin_tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'form'",
            """
            CREATE TABLE checkin_drafts (
                token_hash TEXT PRIMARY KEY,
                person_id TEXT NOT NULL REFERENCES people (id),
                answers TEXT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
        ]
    },
    Migration(version: 5, name: "review packs") { _ in
        [
            // Goals in the person's own words; a rating's item number is the goal's number.
            """
            CREATE TABLE person_goals (
                person_id TEXT NOT NULL REFERENCES people (id),
                number INTEGER NOT NULL,
                text TEXT NOT NULL,
                set_at_ms BIGINT NOT NULL,
                PRIMARY KEY (person_id, number)
            )
            """,
            // The clinician's interpretation at a review, carried into the next pack. Append-only like the audit trail.
            """
            CREATE TABLE review_notes (
                id TEXT PRIMARY KEY,
                person_id TEXT NOT NULL REFERENCES people (id),
                review_at_ms BIGINT NOT NULL,
                author TEXT NOT NULL,
                matches_experience TEXT NOT NULL,
                note TEXT NOT NULL,
                recorded_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX review_notes_person ON review_notes (person_id, review_at_ms)",
            "CREATE INDEX prompts_person_review ON prompts (person_id, review_at_ms)",
            "CREATE INDEX scores_person ON scores (person_id, instrument, superseded_by)",
        ]
    },
    Migration(version: 6, name: "prompt delivery") { _ in
        [
            // The furthest status any message for a prompt has now (delivered > accepted > unknown > failed), kept in
            // step with the outbox in the same transactions, so reports scan prompts alone.
            "ALTER TABLE prompts ADD COLUMN delivery TEXT",
            """
            UPDATE prompts SET delivery = (SELECT o.status FROM outbox_messages o WHERE o.prompt_id = prompts.id
                AND o.status IN ('accepted', 'delivered', 'unknown', 'failed')
                ORDER BY CASE o.status WHEN 'delivered' THEN 0 WHEN 'accepted' THEN 1 WHEN 'unknown' THEN 2 ELSE 3 END LIMIT 1)
            """,
            // Covers the completeness report: an index-only scan of the period's prompts.
            "CREATE INDEX prompts_report ON prompts (review_at_ms, instrument, kind, status, status_reason, delivery, person_id, enrolment_id)",
        ]
    },
    Migration(version: 7, name: "outbox index trim") { _ in
        [
            // outbox_claim (status, due_at_ms, person_id) serves every query outbox_due did; one index fewer to
            // update on each of the two status writes per message.
            "DROP INDEX outbox_due",
        ]
    },
    Migration(version: 8, name: "partial outbox indexes") { _ in
        [
            // The claim and lease indexes hold only the rows they look for (queued; sending), so they stay small
            // however long the outbox grows, and a row leaves them once instead of being moved inside them on every
            // status write. Queries keep the literal status so both SQLite and PostgreSQL pick them.
            "DROP INDEX outbox_claim",
            "DROP INDEX outbox_lease",
            "CREATE INDEX outbox_claim ON outbox_messages (due_at_ms, person_id) WHERE status = 'queued'",
            "CREATE INDEX outbox_lease ON outbox_messages (lease_until_ms) WHERE status = 'sending'",
        ]
    },
    Migration(version: 9, name: "first attempt time") { _ in
        [
            // When a message was first claimed: an email's Date header, so every retry is the same message (R11).
            "ALTER TABLE outbox_messages ADD COLUMN first_attempt_at_ms BIGINT",
        ]
    },
    Migration(version: 10, name: "insertion order on PostgreSQL") { engine in
        // Append-only tables read in arrival order within a millisecond: SQLite's rowid does it; PostgreSQL has no
        // rowid, so a sequence column stands in (filled for existing rows in table order when added).
        engine == .sqlite ? [] : [
            "ALTER TABLE outbox_transitions ADD COLUMN seq BIGSERIAL",
            "ALTER TABLE inbound_replies ADD COLUMN seq BIGSERIAL",
            "ALTER TABLE sandbox_messages ADD COLUMN seq BIGSERIAL",
        ]
    },
    Migration(version: 11, name: "late and unsolicited answers, the team inbox") { _ in
        [
            // Answered after closing, inside the pathway's grace: counted as `late` in completeness.
            "ALTER TABLE prompts ADD COLUMN answered_late INTEGER NOT NULL DEFAULT 0",
            // Answers that could not count for the prompt they were meant for are kept, with why and for which prompt.
            "ALTER TABLE responses ADD COLUMN unsolicited_reason TEXT",
            "ALTER TABLE responses ADD COLUMN about_prompt_id TEXT",
            // What a person did with a quarantined reply in the team inbox.
            "ALTER TABLE inbound_replies ADD COLUMN handled_by TEXT",
            "ALTER TABLE inbound_replies ADD COLUMN handled_note TEXT",
            "ALTER TABLE inbound_replies ADD COLUMN handled_at_ms BIGINT",
            "ALTER TABLE flags ADD COLUMN inbound_reply_id TEXT",
            "CREATE INDEX inbound_replies_person ON inbound_replies (person_id, status)",
            // Tokens expire (rom tokens create --expires, 90 days by default) and show when they were last used.
            "ALTER TABLE api_tokens ADD COLUMN expires_at_ms BIGINT",
            "ALTER TABLE api_tokens ADD COLUMN last_used_at_ms BIGINT",
            // An email reply token names its message: the prompts that message asked about, comma-separated.
            "ALTER TABLE checkin_tokens ADD COLUMN message_prompts TEXT",
            // Signed webhook tokens seen in their replay window, bound to the body they signed (Mailgun signs only
            // timestamp + token, so a captured triple must not authorise another body).
            """
            CREATE TABLE webhook_tokens (
                gateway TEXT NOT NULL,
                token TEXT NOT NULL,
                body_hash TEXT NOT NULL,
                seen_at_ms BIGINT NOT NULL,
                PRIMARY KEY (gateway, token)
            )
            """,
        ]
    },
    Migration(version: 12, name: "staff accounts with MFA") { _ in
        [
            // Named staff accounts sign in with a password (bcrypt) and a TOTP code; tokens stay for API clients.
            """
            CREATE TABLE staff_users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL,
                team TEXT,
                password_hash TEXT,
                totp_secret TEXT,
                totp_last_step BIGINT NOT NULL DEFAULT 0,
                failed_count INTEGER NOT NULL DEFAULT 0,
                locked_until_ms BIGINT,
                setup_hash TEXT UNIQUE,
                setup_expires_at_ms BIGINT,
                created_at_ms BIGINT NOT NULL,
                disabled_at_ms BIGINT,
                last_sign_in_at_ms BIGINT
            )
            """,
            """
            CREATE TABLE recovery_codes (
                user_id TEXT NOT NULL REFERENCES staff_users (id),
                code_hash TEXT NOT NULL,
                used_at_ms BIGINT,
                PRIMARY KEY (user_id, code_hash)
            )
            """,
            // Browser sessions belong to accounts now, not tokens: the token sessions end with this migration.
            "DROP TABLE sessions",
            """
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                session_hash TEXT NOT NULL UNIQUE,
                user_id TEXT NOT NULL REFERENCES staff_users (id),
                stage TEXT NOT NULL,
                next_path TEXT,
                created_at_ms BIGINT NOT NULL,
                last_seen_at_ms BIGINT NOT NULL,
                expires_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX sessions_user ON sessions (user_id)",
        ]
    },
    Migration(version: 13, name: "reviews as records") { _ in
        [
            // Reviews are records with a status: planned → held | missed | cancelled ('scheduled' was planned).
            "UPDATE reviews SET status = 'planned' WHERE status = 'scheduled'",
            "ALTER TABLE reviews ADD COLUMN status_at_ms BIGINT",
            "ALTER TABLE reviews ADD COLUMN status_by TEXT",
            "ALTER TABLE reviews ADD COLUMN interpretation TEXT",
            // Every review that prompts were made for becomes a record (cadence ones made before this had one only
            // once a prompt was created; baselines had none).
            """
            INSERT INTO reviews (id, enrolment_id, review_at_ms, source, status, created_at_ms)
            SELECT enrolment_id || ':' || review_id, enrolment_id, MIN(review_at_ms),
                   CASE WHEN review_id = 'baseline' THEN 'baseline' ELSE 'cadence' END, 'planned', MIN(created_at_ms)
            FROM prompts WHERE review_id = 'baseline' OR review_id LIKE 'c:%'
            GROUP BY enrolment_id, review_id
            ON CONFLICT (id) DO NOTHING
            """,
            "CREATE INDEX reviews_due ON reviews (status, review_at_ms)",
        ]
    },
    Migration(version: 14, name: "retention") { _ in
        [
            // When retention emptied a raw reply body or a message payload (the row itself is kept as the record).
            "ALTER TABLE inbound_replies ADD COLUMN body_purged_at_ms BIGINT",
            "ALTER TABLE outbox_messages ADD COLUMN payload_purged_at_ms BIGINT",
            "CREATE INDEX inbound_replies_received ON inbound_replies (received_at_ms)",
        ]
    },
    Migration(version: 15, name: "service runs") { _ in
        [
            // The last run of each background job on each instance, for the ops status page (several instances share it).
            """
            CREATE TABLE service_runs (
                service TEXT NOT NULL,
                instance TEXT NOT NULL,
                started_at_ms BIGINT NOT NULL,
                duration_ms BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                detail TEXT,
                PRIMARY KEY (service, instance)
            )
            """,
            // Failed messages for the ops page, newest first; a partial index costs nothing on the rows that send.
            "CREATE INDEX outbox_failed ON outbox_messages (updated_at_ms) WHERE status = 'failed'",
        ]
    },
    Migration(version: 16, name: "scheduler attention") { _ in
        [
            // When each enrolment next needs the scheduler (UTC ms; 0 = at the next tick): a tick reads only the
            // enrolments whose instant has come. Every existing enrolment starts due, so the first tick plans all.
            "ALTER TABLE enrolments ADD COLUMN attention_at_ms BIGINT NOT NULL DEFAULT 0",
            // Raised by every change from outside the scheduler (an answer, a booking, a mode switch): a tick writes
            // the attention it worked out only if no such change came while it planned.
            "ALTER TABLE enrolments ADD COLUMN attention_version BIGINT NOT NULL DEFAULT 0",
            "CREATE INDEX enrolments_attention ON enrolments (attention_at_ms, id) WHERE ended_at_ms IS NULL",
        ]
    },
    Migration(version: 17, name: "idempotency keys") { _ in
        [
            // An API client's Idempotency-Key with the answer it got: a retry of the same request gets that answer
            // again instead of doing the work twice. `status` is NULL while the first request is still running.
            """
            CREATE TABLE idempotency_keys (
                credential TEXT NOT NULL,
                key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                status INTEGER,
                content_type TEXT,
                body TEXT,
                created_at_ms BIGINT NOT NULL,
                PRIMARY KEY (credential, key)
            )
            """,
            "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at_ms)",
        ]
    },
    Migration(version: 18, name: "fewer index writes per prompt and outbox row") { _ in
        [
            // Every read by enrolment uses the unique (enrolment_id, review_id, instrument, kind) index's prefix; this
            // one only cost a write on every prompt insert and status change.
            "DROP INDEX prompts_enrolment",
            // Receipts look a message up by its provider's id, which a row only has once accepted: queued and sending
            // rows (every row a tick writes) need no entry.
            "DROP INDEX outbox_provider",
            "CREATE INDEX outbox_provider ON outbox_messages (gateway, provider_message_id) WHERE provider_message_id IS NOT NULL",
        ]
    },
    Migration(version: 19, name: "one outbox row per message") { engine in
        [
            // A message is one outbox row; its prompts link to it here (a prompt links to each message that carried
            // it: the first send, reminders, a fallback channel). Before, a check-in's prompts had a row each, grouped
            // into one message when claimed: three rows, three transitions and three claim and outcome writes for one
            // send.
            """
            CREATE TABLE outbox_prompts (
                message_id TEXT NOT NULL REFERENCES outbox_messages (id),
                prompt_id TEXT NOT NULL,
                PRIMARY KEY (message_id, prompt_id)
            )\(engine == .sqlite ? " WITHOUT ROWID" : "")
            """,
            "CREATE INDEX outbox_prompts_prompt ON outbox_prompts (prompt_id)",
            "INSERT INTO outbox_prompts (message_id, prompt_id) SELECT id, prompt_id FROM outbox_messages WHERE prompt_id IS NOT NULL",
            // Rows still waiting (queued, or sending under one lease) become one row per message as the claim grouped
            // them: the row with the lowest key (whose key the message was sent under) takes the others' prompts, and
            // the others are recorded as merged into it.
            """
            CREATE TABLE outbox_merge AS
            SELECT o.id AS row_id,
                   (SELECT o2.id FROM outbox_messages o2 JOIN prompts p2 ON p2.id = o2.prompt_id
                    WHERE o2.person_id = o.person_id AND o2.status = o.status AND COALESCE(o2.lease_token, '') = COALESCE(o.lease_token, '')
                      AND o2.purpose = o.purpose AND o2.channel = o.channel AND o2.gateway = o.gateway
                      AND p2.enrolment_id = p.enrolment_id AND p2.review_id = p.review_id AND p2.kind = p.kind
                    ORDER BY o2.idempotency_key, o2.id LIMIT 1) AS lead_id
            FROM outbox_messages o JOIN prompts p ON p.id = o.prompt_id
            WHERE o.status IN ('queued', 'sending')
            """,
            "DELETE FROM outbox_merge WHERE lead_id = row_id",
            """
            UPDATE outbox_prompts SET message_id = (SELECT lead_id FROM outbox_merge WHERE row_id = outbox_prompts.message_id)
            WHERE message_id IN (SELECT row_id FROM outbox_merge)
            """,
            """
            INSERT INTO outbox_transitions (id, message_id, from_status, to_status, detail, at_ms)
            SELECT 'ot_m' || o.id, o.id, o.status, 'merged', 'sent as part of ' || m.lead_id, o.updated_at_ms
            FROM outbox_messages o JOIN outbox_merge m ON m.row_id = o.id
            """,
            """
            UPDATE outbox_messages SET status = 'merged', lease_token = NULL, lease_until_ms = NULL,
                   last_error = 'sent as part of ' || (SELECT lead_id FROM outbox_merge WHERE row_id = outbox_messages.id)
            WHERE id IN (SELECT row_id FROM outbox_merge)
            """,
            "DROP TABLE outbox_merge",
            "DROP INDEX outbox_prompt",
            "ALTER TABLE outbox_messages DROP COLUMN prompt_id",
        ]
    },
]
