"""The store's schema as numbered migrations; part of the store, the only other place with SQL.

Each entry upgrades the database from version ``n`` to ``n + 1`` (``PRAGMA
user_version``). Never edit a released migration: append a new one, so an older
database on a school's server upgrades in place on the next start.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: the conversation store.
    """
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        segment TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '[]',
        language TEXT NOT NULL DEFAULT '',
        start_payload TEXT NOT NULL DEFAULT '',
        unreachable INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE identities (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        display_name TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (kind, value)
    );
    CREATE INDEX identities_contact ON identities(contact_id);
    CREATE TABLE threads (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'closed')),
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        conversation TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        contact_id INTEGER NOT NULL REFERENCES contacts(id),
        language TEXT NOT NULL DEFAULT '',
        language_confidence REAL NOT NULL DEFAULT 0,
        segment TEXT NOT NULL DEFAULT '',
        team TEXT NOT NULL DEFAULT '',
        agent TEXT NOT NULL DEFAULT '',
        priority TEXT NOT NULL DEFAULT 'normal',
        tags TEXT NOT NULL DEFAULT '[]',
        sla_policy TEXT NOT NULL DEFAULT '',
        first_response_due TEXT,
        resolution_due TEXT,
        first_response_at TEXT,
        closed_at TEXT,
        flags TEXT NOT NULL DEFAULT '[]',
        routing TEXT NOT NULL DEFAULT '{}',
        reopened_from INTEGER REFERENCES threads(id),
        created_at TEXT NOT NULL,
        last_message_at TEXT NOT NULL
    );
    CREATE INDEX threads_status ON threads(status, last_message_at);
    CREATE INDEX threads_conversation ON threads(account, conversation);
    CREATE INDEX threads_contact ON threads(contact_id);
    CREATE TABLE raw (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        data BLOB NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out', 'note', 'auto')),
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        external_id TEXT,
        header_message_id TEXT NOT NULL DEFAULT '',
        sender TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL DEFAULT '',
        visible_text TEXT NOT NULL DEFAULT '',
        html TEXT,
        flags TEXT NOT NULL DEFAULT '[]',
        meta TEXT NOT NULL DEFAULT '{}',
        raw_id INTEGER REFERENCES raw(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL,
        UNIQUE (account, external_id)
    );
    CREATE INDEX messages_thread ON messages(thread_id, id);
    CREATE INDEX messages_header_id ON messages(header_message_id) WHERE header_message_id != '';
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL DEFAULT '',
        inline INTEGER NOT NULL DEFAULT 0,
        content_id TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX attachments_message ON attachments(message_id);
    CREATE INDEX attachments_sha ON attachments(sha256);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER REFERENCES threads(id) ON DELETE CASCADE,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    CREATE INDEX events_thread ON events(thread_id, id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER REFERENCES threads(id) ON DELETE CASCADE,
        message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        channel TEXT NOT NULL,
        account TEXT NOT NULL,
        recipient TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}',
        attachments TEXT NOT NULL DEFAULT '[]',
        reply_to_external TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'retrying', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        external_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
    CREATE TABLE sync_state (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (account, key)
    );
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        subject, text, content='messages', content_rowid='id', tokenize='unicode61'
    );
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, subject, text)
            VALUES ('delete', old.id, old.subject, old.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, text ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, subject, text)
            VALUES ('delete', old.id, old.subject, old.text);
        INSERT INTO messages_fts(rowid, subject, text) VALUES (new.id, new.subject, new.text);
    END;
    """,
    # 2: agents linked to Telegram, one-time link codes, and the log of automatic answers
    # per sender that rate limits them (no loops with other robots).
    """
    CREATE TABLE agent_links (
        agent TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        linked_at TEXT NOT NULL,
        UNIQUE (kind, value)
    );
    CREATE TABLE link_codes (
        code TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE TABLE automatic_sent (
        id INTEGER PRIMARY KEY,
        recipient TEXT NOT NULL,
        kind TEXT NOT NULL,
        sent_at TEXT NOT NULL
    );
    CREATE INDEX automatic_sent_recipient ON automatic_sent(recipient, sent_at);
    ALTER TABLE contacts ADD COLUMN segment_evidence TEXT NOT NULL DEFAULT '[]';
    """,
    # 3: agents' mail and Telegram messages already acted on (a re-delivery must not act twice).
    """
    CREATE TABLE agent_claims (
        account TEXT NOT NULL,
        external_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        thread_id INTEGER,
        claimed_at TEXT NOT NULL,
        PRIMARY KEY (account, external_id)
    );
    """,
    # 4: service quality: SLA timers that fired (each once, across restarts), pauses already
    # applied to due times, FAQ answers offered and their outcome, satisfaction surveys.
    """
    CREATE TABLE sla_timers (
        thread_id INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        target TEXT NOT NULL CHECK (target IN ('first_response', 'resolution')),
        stage TEXT NOT NULL CHECK (stage IN ('warning', 'breach')),
        due TEXT NOT NULL,
        fired_at TEXT NOT NULL,
        notified INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (thread_id, target, stage)
    );
    CREATE TABLE sla_pauses (
        thread_id INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
        paused_at TEXT NOT NULL,
        resumed_at TEXT NOT NULL,
        PRIMARY KEY (thread_id, paused_at)
    );
    CREATE TABLE faq_offers (
        thread_id INTEGER PRIMARY KEY REFERENCES threads(id) ON DELETE CASCADE,
        entry TEXT NOT NULL,
        score REAL NOT NULL,
        offered_at TEXT NOT NULL,
        outcome TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('', 'solved', 'person')),
        answered_at TEXT
    );
    CREATE TABLE surveys (
        thread_id INTEGER PRIMARY KEY REFERENCES threads(id) ON DELETE CASCADE,
        asked_at TEXT NOT NULL,
        score INTEGER CHECK (score BETWEEN 1 AND 5),
        comment TEXT NOT NULL DEFAULT '',
        answered_at TEXT
    );
    """,
    # 5: open_counts() runs for every new thread: an index-only count instead of a table scan.
    """
    CREATE INDEX threads_agent_status ON threads(agent, status);
    """,
    # 6: `inbox threads` lists newest activity first: read in index order and stop at the
    # limit (1M messages: 495 ms -> 0.2 ms); `inbox status` counts failed deliveries per day.
    """
    CREATE INDEX threads_recent ON threads(last_message_at, id);
    CREATE INDEX events_delivery_failed ON events(created_at) WHERE action = 'delivery-failed';
    """,
    # 7: the forum topic of each thread in a team's Telegram staff group (topic_id NULL until
    # Telegram has created it; notifications wait for it).
    """
    CREATE TABLE forum_topics (
        thread_id INTEGER PRIMARY KEY REFERENCES threads(id) ON DELETE CASCADE,
        chat_id TEXT NOT NULL,
        topic_id INTEGER,
        requested_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX forum_topics_topic ON forum_topics(chat_id, topic_id);
    """,
    # 8: a reply that lost its headers looks for open threads with its subject: the
    # normalised subject (inbox.subjects.normalise; the store registers it as the SQL
    # function normalised_subject() for this backfill), indexed, instead of normalising
    # every open thread's subject in Python for each such reply.
    """
    ALTER TABLE threads ADD COLUMN subject_key TEXT NOT NULL DEFAULT '';
    UPDATE threads SET subject_key = normalised_subject(subject);
    CREATE INDEX threads_subject ON threads(subject_key, last_message_at);
    """,
    # 9: no outbox entry overtakes a failed one to its recipient (Store.due_outbound):
    # finding that one is an index lookup, not a scan of everything waiting.
    """
    CREATE INDEX outbox_retrying ON outbox(account, recipient, id) WHERE state = 'retrying';
    """,
    # 10: the store adds new messages to the search index once per transaction
    # (Store._index_missing): a trigger per insert made FTS5 write a segment per message.
    """
    DROP TRIGGER messages_fts_insert;
    """,
    # 11: a late reply to a closed thread joins the thread that already continues it
    # (Store.continuation); purge unlinks continuations of what it deletes.
    """
    CREATE INDEX threads_reopened_from ON threads(reopened_from) WHERE reopened_from IS NOT NULL;
    """,
    # 12: an agent's mail is acted on once whichever of our mailboxes reads it (a channel
    # renamed reads its mailbox anew): Store.was_claimed by Message-ID alone.
    """
    CREATE INDEX agent_claims_external ON agent_claims(external_id);
    """,
    # 13: a bounce of a notification (no message row carries its Message-ID) is found by
    # the id the channel sent it under, as an agent's Telegram reply finds its notification.
    """
    CREATE INDEX outbox_external ON outbox(external_id) WHERE external_id != '';
    """,
    # 14: a bounce of a reply goes from its message to the outbox entry by message_id. A
    # notification names the customer's message it quotes (about_message_id): forgetting
    # that person deletes it with the message, and export-contact finds it.
    # (IF NOT EXISTS, and an ADD COLUMN the store skips when the column is there: stores of
    # the session's development builds already had some of it at version 13.)
    """
    CREATE INDEX IF NOT EXISTS outbox_message ON outbox(message_id)
        WHERE message_id IS NOT NULL;
    ALTER TABLE outbox ADD COLUMN about_message_id INTEGER
        REFERENCES messages(id) ON DELETE CASCADE;
    CREATE INDEX IF NOT EXISTS outbox_about ON outbox(about_message_id)
        WHERE about_message_id IS NOT NULL;
    """,
    # 15: an id is never given twice. SQLite gives a new row the largest id + 1, so once
    # forget-contact or purge deleted the newest thread its number went to the next
    # customer's, and an agent's answer to a notification of the deleted one (its reply
    # address names the ticket) reached that other family. The highest id each table ever
    # lost is kept here; Store._insert numbers new threads, contacts, messages and outbox
    # entries ("reply to #3 queued (outbox 6)") above it. What an older build deleted is
    # not known, and it may have numbered a thread twice already: see 16.
    """
    CREATE TABLE retired_ids (
        name TEXT PRIMARY KEY,
        high INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TRIGGER threads_retire AFTER DELETE ON threads
        WHEN old.id > ifnull((SELECT high FROM retired_ids WHERE name = 'threads'), 0)
    BEGIN
        INSERT OR REPLACE INTO retired_ids(name, high) VALUES ('threads', old.id);
    END;
    CREATE TRIGGER contacts_retire AFTER DELETE ON contacts
        WHEN old.id > ifnull((SELECT high FROM retired_ids WHERE name = 'contacts'), 0)
    BEGIN
        INSERT OR REPLACE INTO retired_ids(name, high) VALUES ('contacts', old.id);
    END;
    CREATE TRIGGER messages_retire AFTER DELETE ON messages
        WHEN old.id > ifnull((SELECT high FROM retired_ids WHERE name = 'messages'), 0)
    BEGIN
        INSERT OR REPLACE INTO retired_ids(name, high) VALUES ('messages', old.id);
    END;
    CREATE TRIGGER outbox_retire AFTER DELETE ON outbox
        WHEN old.id > ifnull((SELECT high FROM retired_ids WHERE name = 'outbox'), 0)
    BEGIN
        INSERT OR REPLACE INTO retired_ids(name, high) VALUES ('outbox', old.id);
    END;
    """,
    # 16: reply addresses sign the thread's opening time too (notify.Desk.token): a number
    # an older build gave twice must not take an answer to the deleted thread's notices.
    # The first form, without it, is still taken for the threads numbered up to here, whose
    # agents hold notices in it. (Not in 15: development builds had run 15 already.)
    """
    INSERT OR IGNORE INTO sync_state(account, key, value, updated_at)
        SELECT '', 'reply-tokens:first-form-up-to', CAST(ifnull(max(id), 0) AS TEXT),
               strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
        FROM threads;
    """,
    # 17: round-robin asks for the team's last assigned thread with every new thread; with
    # no index on team, a team that gets few threads had SQLite read back through the
    # whole table (every thread of the school) to find its last one.
    """
    CREATE INDEX IF NOT EXISTS threads_team ON threads(team);
    """,
    # 18: when the SLA timer job must next look at a thread ('' = at its next check), so a
    # check reads the few threads with something due instead of every open one (3,240
    # open threads: 55 ms every half minute, and all their business-time sums again in
    # every `inbox run --once` from cron, which kept them in memory only). The store
    # replaces it with a fresh mark ('#...', sorting before every instant) whenever a due
    # time, the status or the policy changes. The pauses the
    # job applies first are looked for among the open threads' 'pending' and 'closed'
    # events alone, in the indexes (not every event of every open thread: 8 ms a check).
    """
    ALTER TABLE threads ADD COLUMN sla_check_at TEXT NOT NULL DEFAULT '';
    CREATE INDEX IF NOT EXISTS threads_sla_check ON threads(status, sla_check_at, sla_policy);
    CREATE INDEX IF NOT EXISTS events_pauses ON events(thread_id, created_at)
        WHERE action IN ('pending', 'closed');
    """,
)
