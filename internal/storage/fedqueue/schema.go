package fedqueue

import "github.com/myelin-chat/myelin/internal/storage/sqldb"

// Domain is the schema_versions domain of this package's tables.
const Domain = "fedqueue"

// migrations are append-only: never edit a released entry.
var migrations = []sqldb.Migration{
	{Version: 1, Name: "outgoing federation queues: pdus, edus, destinations, epochs", SQL: `
-- One row per SendPDU call and event: the PDU JSON is stored once however
-- many destinations it goes to. A row's set of destinations is fixed when it
-- is inserted and only ever shrinks (each destination's row is deleted when
-- that destination acknowledges), so deleting the row once no destination
-- refers to it cannot race with an enqueue that would add one.
CREATE TABLE fedqueue_pdus (
	pdu_id     {{serial_pk}},
	event_id   TEXT   NOT NULL,
	room_id    TEXT   NOT NULL,
	stream_pos BIGINT NOT NULL,
	pdu_json   {{bytes}} NOT NULL,
	queued_ts  BIGINT NOT NULL
);

-- What each destination still has to acknowledge, in enqueue order.
CREATE TABLE fedqueue_pdu_destinations (
	destination TEXT   NOT NULL,
	pdu_id      BIGINT NOT NULL REFERENCES fedqueue_pdus (pdu_id),
	PRIMARY KEY (destination, pdu_id)
);
CREATE INDEX fedqueue_pdu_destinations_pdu ON fedqueue_pdu_destinations (pdu_id);

-- EDUs that must survive a restart (m.direct_to_device), one row per
-- destination: they are small and usually go to one server.
CREATE TABLE fedqueue_edus (
	edu_id      {{serial_pk}},
	destination TEXT   NOT NULL,
	edu_type    TEXT   NOT NULL,
	content     {{bytes}} NOT NULL,
	queued_ts   BIGINT NOT NULL
);
CREATE INDEX fedqueue_edus_destination ON fedqueue_edus (destination, edu_id);

-- Per destination: delivery progress and the retry schedule, so that a
-- restart neither forgets how far a server got nor hammers one that is down.
CREATE TABLE fedqueue_destinations (
	destination          TEXT PRIMARY KEY,
	last_sent_stream_pos BIGINT NOT NULL DEFAULT 0,
	last_success_ts      BIGINT NOT NULL DEFAULT 0,
	retry_interval_ms    BIGINT NOT NULL DEFAULT 0,
	retry_at_ts          BIGINT NOT NULL DEFAULT 0,
	failing_since_ts     BIGINT NOT NULL DEFAULT 0
);

-- One row per sender start. The epoch prefixes transaction IDs, so IDs stay
-- unique per destination across restarts without a write per transaction.
CREATE TABLE fedqueue_epochs (
	epoch      {{serial_pk}},
	started_ts BIGINT NOT NULL
);
`},
}
