/*
 * pgoutput.h: PostgreSQL's logical replication stream as a libpq client
 * receives it after
 *
 *	START_REPLICATION SLOT s LOGICAL 0/0
 *	    (proto_version '1', publication_names 'p', binary 'true')
 *
 * (PostgreSQL 15, the pgoutput plugin): the framing of each CopyData
 * payload (XLogData, keepalive), the pgoutput messages inside XLogData,
 * and the client's standby status update.  Private to libtrainprog and
 * its users in this tree; not installed.
 *
 * Pure and IO-free: no global state, libc only.  The bytes are the
 * server's but are read as untrusted: every length and count is checked
 * against what is left, nothing is read past the buffer, and a malformed
 * message is refused (-1), never half-read.  All integers on the wire are
 * big-endian.
 *
 * Zero-copy: whatever is declared const below points into the buffer that
 * was parsed, and is valid only while that buffer is (PQfreemem() ends
 * it).  Strings in it are NUL-terminated (the parser checked the NUL is
 * there); tuple values are not: use their len.  What the parser allocates
 * (tuple value arrays, truncated OIDs, a relation's names and columns) is
 * freed by pgo_msg_clear(), or, for a relation, moved into a relation cache.
 */
#ifndef TP_PGOUTPUT_H
#define TP_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PostgreSQL's clock counts microseconds from 2000-01-01, Unix's from 1970-01-01. */
#define PG_EPOCH_OFFSET_US	INT64_C(946684800000000)

/* --- framing (the streaming replication protocol) ------------------------ */

/* Sizes of the framing: XLogData's header, a whole keepalive, a status update. */
#define REPL_XLOGDATA_HDR	25
#define REPL_KEEPALIVE_LEN	18
#define REPL_STATUS_LEN		34

/*
 * One CopyData payload from the server.
 * 'w' XLogData: wal_start (the LSN the data starts at), wal_end (the
 *     server's current end of WAL), send_time, and data/len, the pgoutput
 *     message (pgo_parse()); reply is false.
 * 'k' Primary keepalive: wal_end, send_time, reply (the server wants a
 *     status update now); wal_start 0, data NULL, len 0.
 * Times are microseconds since 2000-01-01 (PG_EPOCH_OFFSET_US).
 */
struct repl_frame {
	char			 kind;
	uint64_t		 wal_start;
	uint64_t		 wal_end;
	int64_t			 send_time;
	bool			 reply;
	const unsigned char	*data;
	size_t			 len;
};

/*
 * Reads buf[0..len) as 'w' or 'k'.  0, or -1 when it is neither, is short,
 * or is a keepalive of other than REPL_KEEPALIVE_LEN bytes or whose reply
 * byte is other than 0 or 1.  *out is always written (zeroed on -1).
 */
int	 repl_frame_parse(const unsigned char *buf, size_t len, struct repl_frame *out);

/*
 * Writes the standby status update ('r'): the LSNs + 1 of the last WAL
 * byte received and written, flushed, and applied, the client's clock
 * (microseconds since 2000-01-01), and whether the client asks for a reply.
 */
void	 repl_status_encode(unsigned char out[REPL_STATUS_LEN], uint64_t written,
	    uint64_t flushed, uint64_t applied, int64_t now_pg_us, bool reply);

/* --- pgoutput messages (logical replication protocol version 1) ----------- */

/* PostgreSQL's MaxTupleAttributeNumber: more columns than this are refused. */
#define PGO_MAX_COLS		1664

/*
 * A column's value in a tuple.  kind 'n' NULL and 'u' unchanged TOASTed
 * value (not sent: the old one stands) have data NULL, len 0; 't' text
 * (the type's output function, not NUL-terminated) and 'b' binary (its
 * send function) point into the parsed buffer.
 */
struct pgo_value {
	char			 kind;
	const unsigned char	*data;
	uint32_t		 len;
};

/*
 * A row: ncols values in the order of the relation's columns.  The caller
 * checks ncols against the relation it has for the OID.
 */
struct pgo_tuple {
	int			 ncols;
	struct pgo_value	*vals;		/* allocated; NULL when ncols is 0 */
};

struct pgo_column {
	char			*name;
	uint32_t		 type_oid;
	int32_t			 typmod;
	bool			 key;		/* part of the replica identity */
};

/*
 * A table as a RELATION message describes it.  nspname "" means
 * pg_catalog.  identity is pg_class.relreplident as sent: 'd' default,
 * 'n' nothing, 'f' full, 'i' index.  Everything is allocated.
 */
struct pgo_relation {
	uint32_t		 oid;
	char			*nspname;
	char			*relname;
	char			 identity;
	int			 ncols;
	struct pgo_column	*cols;		/* NULL when ncols is 0 */
};

/*
 * One pgoutput message.  type is the message's first byte, or '?' for a
 * type this parser does not read (the caller skips it; buf[0] says which).
 * The fields each type fills, all others zero:
 * 'B' Begin: lsn (the transaction's final LSN), time (commit), xid.
 * 'C' Commit: flags (0), lsn (the commit's), end_lsn (the transaction's
 *     end), time (commit).
 * 'O' Origin: lsn (the commit's on the origin), name.
 * 'R' Relation: rel, owned by the message until pgo_msg_clear() or
 *     pgo_relations_put().
 * 'Y' Type: type_oid, nspname, name.
 * 'I' Insert: rel_oid, new.
 * 'U' Update: rel_oid, new; has_old with old_kind 'K' (old tuple's key
 *     columns only, the others 'n') or 'O' (the whole old row) and old,
 *     when the server sent one.
 * 'D' Delete: rel_oid, has_old, old_kind ('K' or 'O') and old.
 * 'T' Truncate: flags (1 CASCADE, 2 RESTART IDENTITY), ntrunc and
 *     trunc_oids (allocated; NULL when ntrunc is 0).
 * 'M' Message: flags (1 transactional), lsn, name (the prefix), content
 *     and content_len.
 */
struct pgo_msg {
	char			 type;
	uint8_t			 flags;
	uint64_t		 lsn;
	uint64_t		 end_lsn;
	int64_t			 time;
	uint32_t		 xid;
	uint32_t		 rel_oid;
	uint32_t		 type_oid;
	const char		*nspname;
	const char		*name;
	bool			 has_old;
	char			 old_kind;
	struct pgo_tuple	 old;
	struct pgo_tuple	 new;
	struct pgo_relation	 rel;
	int			 ntrunc;
	uint32_t		*trunc_oids;
	const unsigned char	*content;
	uint32_t		 content_len;
};

/*
 * Reads one pgoutput message, buf[0..len) (struct repl_frame's data and
 * len).  0, also for a type it does not read ('?'); -1 when a type it
 * reads is short, has trailing bytes, a count past what is left or over
 * PGO_MAX_COLS, a string without its NUL, an unknown tuple value kind or
 * marker, a commit's flags other than 0, a column's other than 0 or 1, or
 * when memory runs out.  *out is overwritten without being freed (clear
 * a previous message first); on -1 it holds nothing.  Either way it is
 * safe to pgo_msg_clear().
 */
int	 pgo_parse(const unsigned char *buf, size_t len, struct pgo_msg *out);
/* Frees what m owns and zeroes it.  Twice is harmless. */
void	 pgo_msg_clear(struct pgo_msg *m);

/*
 * The relations a stream has described, by OID: the server sends a
 * RELATION message before the first change to a table in a session, and
 * again when the table changes, and the changes that follow are read
 * against the newest one.
 */
struct pgo_relations;

/* An empty cache, or NULL when memory runs out. */
struct pgo_relations *pgo_relations_new(void);
/* Frees the cache and every relation in it.  NULL is harmless. */
void	 pgo_relations_free(struct pgo_relations *rs);
/*
 * Takes rel's contents into the cache, replacing (and freeing) a relation
 * with the same OID: on 0 *rel is zeroed, as a message's rel is then safe
 * to clear.  -1 when memory runs out: *rel is left as it was, the caller's.
 */
int	 pgo_relations_put(struct pgo_relations *rs, struct pgo_relation *rel);
/*
 * The relation with that OID, or NULL.  Valid until one with the same OID
 * is put, or the cache is freed.
 */
const struct pgo_relation *pgo_relations_get(const struct pgo_relations *rs, uint32_t oid);

#endif /* TP_PGOUTPUT_H */
