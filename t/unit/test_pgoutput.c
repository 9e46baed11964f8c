/* test_pgoutput.c: lib/pgoutput.c: replication framing, pgoutput messages, the relation cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../lib/pgoutput.h"

/* A message being written by hand, big-endian as on the wire. */
struct wbuf {
	unsigned char	 b[32768];
	size_t		 n;
};

static struct wbuf	 w;
static struct pgo_msg	 m;
static unsigned char	*copy;		/* what parse() last parsed */

static void
put_u8(struct wbuf *b, uint8_t v)
{
	cr_assert_lt(b->n, sizeof(b->b));
	b->b[b->n++] = v;
}

static void
put_u16(struct wbuf *b, uint16_t v)
{
	put_u8(b, (uint8_t)(v >> 8));
	put_u8(b, (uint8_t)v);
}

static void
put_u32(struct wbuf *b, uint32_t v)
{
	put_u16(b, (uint16_t)(v >> 16));
	put_u16(b, (uint16_t)v);
}

static void
put_u64(struct wbuf *b, uint64_t v)
{
	put_u32(b, (uint32_t)(v >> 32));
	put_u32(b, (uint32_t)v);
}

/* With its NUL. */
static void
put_str(struct wbuf *b, const char *s)
{
	size_t	 i;

	for (i = 0; i <= strlen(s); i++)
		put_u8(b, (uint8_t)s[i]);
}

static void
put_mem(struct wbuf *b, const void *p, size_t n)
{
	cr_assert_leq(n, sizeof(b->b) - b->n);
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

/* A text value 't' or a binary one 'b'. */
static void
put_val(struct wbuf *b, char kind, const void *p, uint32_t n)
{
	put_u8(b, (uint8_t)kind);
	put_u32(b, n);
	put_mem(b, p, n);
}

/*
 * Parses b[0..n) from a copy of exactly n bytes, so that under ASan a
 * read past the end is caught.  The copy is kept until the next parse()
 * (the message points into it), the last one until the test ends.
 */
static int
parse(const unsigned char *b, size_t n, struct pgo_msg *out)
{
	free(copy);
	cr_assert_not_null(copy = malloc(n ? n : 1));
	memcpy(copy, b, n);
	return pgo_parse(copy, n, out);
}

/* Leaves nothing for LeakSanitizer but what the code under test leaked. */
static void
release(void)
{
	pgo_msg_clear(&m);
	free(copy);
	copy = NULL;
}

TestSuite(frame, .fini = release);
TestSuite(pgoutput, .fini = release);
TestSuite(malformed, .fini = release);
TestSuite(relations, .fini = release);

static void
assert_zeroed(const struct pgo_msg *msg)
{
	static const struct pgo_msg	 zero;

	cr_assert(memcmp(msg, &zero, sizeof(zero)) == 0, "a refused message holds something");
}

static void
assert_val(const struct pgo_value *v, char kind, const char *data, uint32_t len)
{
	cr_assert_eq(v->kind, kind, "kind '%c', not '%c'", v->kind, kind);
	cr_assert_eq(v->len, len);
	if (data == NULL)
		cr_assert_null(v->data);
	else
		cr_assert(memcmp(v->data, data, len) == 0);
}

/* --- sample messages --------------------------------------------------------- */

static void
msg_begin(struct wbuf *b)
{
	put_u8(b, 'B');
	put_u64(b, UINT64_C(0x16B3748));
	put_u64(b, UINT64_C(814371234567890));
	put_u32(b, 742);
}

static void
msg_commit(struct wbuf *b)
{
	put_u8(b, 'C');
	put_u8(b, 0);
	put_u64(b, UINT64_C(0x16B3748));
	put_u64(b, UINT64_C(0x16B3778));
	put_u64(b, UINT64_C(814371234567890));
}

static void
msg_origin(struct wbuf *b)
{
	put_u8(b, 'O');
	put_u64(b, UINT64_C(0xFFFFFFFF00000001));
	put_str(b, "pg_16390");
}

static void
put_column(struct wbuf *b, uint8_t flags, const char *name, uint32_t type, uint32_t typmod)
{
	put_u8(b, flags);
	put_str(b, name);
	put_u32(b, type);
	put_u32(b, typmod);
}

/*
 * public.training_progress (OID 16402), replica identity default: job_id
 * text (the key), error_message text, best_params jsonb, seq int8,
 * label varchar(64).
 */
static void
msg_relation(struct wbuf *b)
{
	put_u8(b, 'R');
	put_u32(b, 16402);
	put_str(b, "public");
	put_str(b, "training_progress");
	put_u8(b, 'd');
	put_u16(b, 5);
	put_column(b, 1, "job_id", 25, 0xFFFFFFFF);
	put_column(b, 0, "error_message", 25, 0xFFFFFFFF);
	put_column(b, 0, "best_params", 3802, 0xFFFFFFFF);
	put_column(b, 0, "seq", 20, 0xFFFFFFFF);
	put_column(b, 0, "label", 1043, 68);
}

static void
msg_type(struct wbuf *b)
{
	put_u8(b, 'Y');
	put_u32(b, 16390);
	put_str(b, "public");
	put_str(b, "job_status");
}

/* A row of training_progress: one value of each kind, and an empty text. */
static void
tuple_all_kinds(struct wbuf *b)
{
	put_u16(b, 5);
	put_val(b, 't', "job-1", 5);
	put_u8(b, 'n');
	put_u8(b, 'u');
	put_val(b, 'b', "\x00\x00\x00\x00\x00\x00\x00\x2a", 8);
	put_val(b, 't', "", 0);
}

/* Its key, as an old tuple 'K' has it: the other columns NULL. */
static void
tuple_key(struct wbuf *b)
{
	put_u16(b, 5);
	put_val(b, 't', "job-1", 5);
	put_u8(b, 'n');
	put_u8(b, 'n');
	put_u8(b, 'n');
	put_u8(b, 'n');
}

static void
msg_insert(struct wbuf *b)
{
	put_u8(b, 'I');
	put_u32(b, 16402);
	put_u8(b, 'N');
	tuple_all_kinds(b);
}

static void
msg_update(struct wbuf *b)
{
	put_u8(b, 'U');
	put_u32(b, 16402);
	put_u8(b, 'N');
	tuple_all_kinds(b);
}

static void
msg_update_key(struct wbuf *b)
{
	put_u8(b, 'U');
	put_u32(b, 16402);
	put_u8(b, 'K');
	tuple_key(b);
	put_u8(b, 'N');
	tuple_all_kinds(b);
}

static void
msg_update_old(struct wbuf *b)
{
	put_u8(b, 'U');
	put_u32(b, 16402);
	put_u8(b, 'O');
	tuple_all_kinds(b);
	put_u8(b, 'N');
	tuple_key(b);
}

static void
msg_delete_key(struct wbuf *b)
{
	put_u8(b, 'D');
	put_u32(b, 16402);
	put_u8(b, 'K');
	tuple_key(b);
}

static void
msg_delete_old(struct wbuf *b)
{
	put_u8(b, 'D');
	put_u32(b, 16402);
	put_u8(b, 'O');
	tuple_all_kinds(b);
}

static void
msg_truncate(struct wbuf *b)
{
	put_u8(b, 'T');
	put_u32(b, 2);
	put_u8(b, 3);
	put_u32(b, 16402);
	put_u32(b, 0xFFFFFFF0);
}

static void
msg_message(struct wbuf *b)
{
	put_u8(b, 'M');
	put_u8(b, 1);
	put_u64(b, UINT64_C(0x16B3800));
	put_str(b, "tp");
	put_u32(b, 4);
	put_mem(b, "a\0b\xff", 4);
}

static void (*const samples[])(struct wbuf *) = {
	msg_begin, msg_commit, msg_origin, msg_relation, msg_type, msg_insert, msg_update,
	msg_update_key, msg_update_old, msg_delete_key, msg_delete_old, msg_truncate,
	msg_message,
};
#define NSAMPLES	(sizeof(samples) / sizeof(samples[0]))

static void
sample(void (*fn)(struct wbuf *))
{
	w.n = 0;
	fn(&w);
}

/* --- framing ----------------------------------------------------------------- */

Test(frame, xlogdata_carries_the_message)
{
	struct repl_frame	 f;
	unsigned char		*buf;
	size_t			 n;

	w.n = 0;
	put_u8(&w, 'w');
	put_u64(&w, UINT64_C(0x16B3748));
	put_u64(&w, UINT64_C(0x2000000));
	put_u64(&w, (uint64_t)-5);
	msg_begin(&w);
	n = w.n;
	cr_assert_not_null(buf = malloc(n));
	memcpy(buf, w.b, n);
	cr_assert_eq(repl_frame_parse(buf, n, &f), 0);
	cr_assert_eq(f.kind, 'w');
	cr_assert_eq(f.wal_start, UINT64_C(0x16B3748));
	cr_assert_eq(f.wal_end, UINT64_C(0x2000000));
	cr_assert_eq(f.send_time, -5, "the clock is signed");
	cr_assert_not(f.reply);
	cr_assert_eq(f.data, buf + REPL_XLOGDATA_HDR);
	cr_assert_eq(f.len, n - REPL_XLOGDATA_HDR);
	cr_assert_eq(pgo_parse(f.data, f.len, &m), 0);
	cr_assert_eq(m.type, 'B');
	cr_assert_eq(m.xid, 742);
	pgo_msg_clear(&m);
	free(buf);
}

Test(frame, xlogdata_header_alone_and_truncations)
{
	struct repl_frame	 f;
	size_t			 cut;

	w.n = 0;
	put_u8(&w, 'w');
	put_u64(&w, 1);
	put_u64(&w, 2);
	put_u64(&w, 3);
	cr_assert_eq(repl_frame_parse(w.b, w.n, &f), 0, "no payload: the framing is whole");
	cr_assert_eq(f.len, 0);
	cr_assert_eq(f.send_time, 3);
	cr_assert_eq(pgo_parse(f.data, f.len, &m), -1, "but an empty message is not one");
	for (cut = 0; cut < REPL_XLOGDATA_HDR; cut++) {
		cr_assert_eq(repl_frame_parse(w.b, cut, &f), -1, "%zu bytes", cut);
		cr_assert_eq(f.kind, 0);
		cr_assert_null(f.data);
	}
}

Test(frame, keepalive)
{
	struct repl_frame	 f;
	size_t			 cut;

	w.n = 0;
	put_u8(&w, 'k');
	put_u64(&w, UINT64_C(0x1234567890ABCDEF));
	put_u64(&w, UINT64_C(814371234567890));
	put_u8(&w, 1);
	cr_assert_eq(w.n, REPL_KEEPALIVE_LEN);
	cr_assert_eq(repl_frame_parse(w.b, w.n, &f), 0);
	cr_assert_eq(f.kind, 'k');
	cr_assert_eq(f.wal_end, UINT64_C(0x1234567890ABCDEF));
	cr_assert_eq(f.send_time, INT64_C(814371234567890));
	cr_assert(f.reply);
	cr_assert_eq(f.wal_start, 0);
	cr_assert_null(f.data);
	cr_assert_eq(f.len, 0);

	w.b[17] = 0;
	cr_assert_eq(repl_frame_parse(w.b, w.n, &f), 0);
	cr_assert_not(f.reply);
	w.b[17] = 2;
	cr_assert_eq(repl_frame_parse(w.b, w.n, &f), -1, "reply is 0 or 1");
	w.b[17] = 0;
	put_u8(&w, 0);
	cr_assert_eq(repl_frame_parse(w.b, w.n, &f), -1, "a trailing byte");
	for (cut = 0; cut < REPL_KEEPALIVE_LEN; cut++)
		cr_assert_eq(repl_frame_parse(w.b, cut, &f), -1, "%zu bytes", cut);
}

Test(frame, other_kinds_are_refused)
{
	static const char	 kinds[] = "rdBx\0";
	unsigned char		 buf[REPL_KEEPALIVE_LEN + 8];
	struct repl_frame	 f;
	size_t			 i;

	memset(buf, 0, sizeof(buf));
	for (i = 0; i < sizeof(kinds) - 1; i++) {
		buf[0] = (unsigned char)kinds[i];
		cr_assert_eq(repl_frame_parse(buf, sizeof(buf), &f), -1, "kind 0x%02x", buf[0]);
		cr_assert_eq(f.kind, 0);
	}
	cr_assert_eq(repl_frame_parse(buf, 0, &f), -1, "nothing");
}

Test(frame, status_update_bytes)
{
	static const unsigned char	 want[REPL_STATUS_LEN] = {
		'r',
		0x00, 0x00, 0x00, 0x00, 0x01, 0x6B, 0x37, 0x78,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x6B, 0x37, 0x48,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x00, 0x02, 0xE4, 0xAA, 0x94, 0x26, 0xD6, 0xD2,
		0x01,
	};
	unsigned char			 out[REPL_STATUS_LEN];

	memset(out, 0xAA, sizeof(out));
	repl_status_encode(out, UINT64_C(0x16B3778), UINT64_C(0x16B3748),
	    UINT64_C(0x0102030405060708), INT64_C(814371234567890), true);
	cr_assert(memcmp(out, want, sizeof(want)) == 0);

	repl_status_encode(out, 0, 0, UINT64_MAX, -1, false);
	cr_assert_eq(out[0], 'r');
	cr_assert(memcmp(out + 1, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
	cr_assert(memcmp(out + 17, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 0);
	cr_assert(memcmp(out + 25, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 0,
	    "a negative clock, two's complement");
	cr_assert_eq(out[33], 0);
}

/* --- each message ------------------------------------------------------------- */

Test(pgoutput, begin_and_commit)
{
	sample(msg_begin);
	cr_assert_eq(w.n, 21);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'B');
	cr_assert_eq(m.lsn, UINT64_C(0x16B3748));
	cr_assert_eq(m.time, INT64_C(814371234567890));
	cr_assert_eq(m.xid, 742);
	pgo_msg_clear(&m);

	sample(msg_commit);
	cr_assert_eq(w.n, 26);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'C');
	cr_assert_eq(m.flags, 0);
	cr_assert_eq(m.lsn, UINT64_C(0x16B3748));
	cr_assert_eq(m.end_lsn, UINT64_C(0x16B3778));
	cr_assert_eq(m.time, INT64_C(814371234567890));
	pgo_msg_clear(&m);

	/* PostgreSQL's own reader refuses these flags too. */
	w.b[1] = 1;
	cr_assert_eq(parse(w.b, w.n, &m), -1, "a commit's flags are 0");
	assert_zeroed(&m);
}

Test(pgoutput, origin_and_type)
{
	sample(msg_origin);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'O');
	cr_assert_eq(m.lsn, UINT64_C(0xFFFFFFFF00000001));
	cr_assert_str_eq(m.name, "pg_16390");
	pgo_msg_clear(&m);

	sample(msg_type);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'Y');
	cr_assert_eq(m.type_oid, 16390);
	cr_assert_str_eq(m.nspname, "public");
	cr_assert_str_eq(m.name, "job_status");
	pgo_msg_clear(&m);
}

Test(pgoutput, relation)
{
	sample(msg_relation);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'R');
	cr_assert_eq(m.rel.oid, 16402);
	cr_assert_str_eq(m.rel.nspname, "public");
	cr_assert_str_eq(m.rel.relname, "training_progress");
	cr_assert_eq(m.rel.identity, 'd');
	cr_assert_eq(m.rel.ncols, 5);
	cr_assert_str_eq(m.rel.cols[0].name, "job_id");
	cr_assert(m.rel.cols[0].key);
	cr_assert_eq(m.rel.cols[0].type_oid, 25);
	cr_assert_eq(m.rel.cols[0].typmod, -1);
	cr_assert_str_eq(m.rel.cols[1].name, "error_message");
	cr_assert_not(m.rel.cols[1].key);
	cr_assert_str_eq(m.rel.cols[2].name, "best_params");
	cr_assert_eq(m.rel.cols[2].type_oid, 3802);
	cr_assert_str_eq(m.rel.cols[3].name, "seq");
	cr_assert_eq(m.rel.cols[3].type_oid, 20);
	cr_assert_not(m.rel.cols[3].key);
	cr_assert_str_eq(m.rel.cols[4].name, "label");
	cr_assert_eq(m.rel.cols[4].type_oid, 1043);
	cr_assert_eq(m.rel.cols[4].typmod, 68);
	pgo_msg_clear(&m);
	assert_zeroed(&m);
}

Test(pgoutput, relation_in_pg_catalog_without_columns)
{
	w.n = 0;
	put_u8(&w, 'R');
	put_u32(&w, 1);
	put_str(&w, "");
	put_str(&w, "t");
	put_u8(&w, 'n');
	put_u16(&w, 0);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_str_eq(m.rel.nspname, "", "pg_catalog, as sent");
	cr_assert_eq(m.rel.identity, 'n');
	cr_assert_eq(m.rel.ncols, 0);
	cr_assert_null(m.rel.cols);
	pgo_msg_clear(&m);
}

Test(pgoutput, relation_column_flags_are_0_or_1)
{
	sample(msg_relation);
	/* 'R', OID, "public\0", "training_progress\0", identity, count: the first column's flags. */
	w.b[1 + 4 + 7 + 18 + 1 + 2] = 2;
	cr_assert_eq(parse(w.b, w.n, &m), -1);
	assert_zeroed(&m);
}

Test(pgoutput, insert_with_every_kind_of_value)
{
	sample(msg_insert);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'I');
	cr_assert_eq(m.rel_oid, 16402);
	cr_assert_not(m.has_old);
	cr_assert_eq(m.old.ncols, 0);
	cr_assert_null(m.old.vals);
	cr_assert_eq(m.new.ncols, 5);
	assert_val(&m.new.vals[0], 't', "job-1", 5);
	assert_val(&m.new.vals[1], 'n', NULL, 0);
	assert_val(&m.new.vals[2], 'u', NULL, 0);
	assert_val(&m.new.vals[3], 'b', "\x00\x00\x00\x00\x00\x00\x00\x2a", 8);
	assert_val(&m.new.vals[4], 't', "", 0);
	pgo_msg_clear(&m);
}

Test(pgoutput, values_point_into_the_buffer)
{
	sample(msg_insert);
	cr_assert_eq(pgo_parse(w.b, w.n, &m), 0);
	/* 'I', OID, 'N', count, 't', length: the first value's bytes. */
	cr_assert_eq(m.new.vals[0].data, w.b + 1 + 4 + 1 + 2 + 1 + 4);
	pgo_msg_clear(&m);
}

Test(pgoutput, update_without_and_with_old_tuples)
{
	sample(msg_update);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'U');
	cr_assert_eq(m.rel_oid, 16402);
	cr_assert_not(m.has_old);
	cr_assert_eq(m.old_kind, 0);
	cr_assert_eq(m.new.ncols, 5);
	pgo_msg_clear(&m);

	sample(msg_update_key);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert(m.has_old);
	cr_assert_eq(m.old_kind, 'K');
	cr_assert_eq(m.old.ncols, 5);
	assert_val(&m.old.vals[0], 't', "job-1", 5);
	assert_val(&m.old.vals[2], 'n', NULL, 0);
	cr_assert_eq(m.new.ncols, 5);
	assert_val(&m.new.vals[3], 'b', "\x00\x00\x00\x00\x00\x00\x00\x2a", 8);
	pgo_msg_clear(&m);

	sample(msg_update_old);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert(m.has_old);
	cr_assert_eq(m.old_kind, 'O');
	cr_assert_eq(m.old.ncols, 5);
	assert_val(&m.old.vals[2], 'u', NULL, 0);
	cr_assert_eq(m.new.ncols, 5);
	assert_val(&m.new.vals[1], 'n', NULL, 0);
	pgo_msg_clear(&m);
}

Test(pgoutput, delete)
{
	sample(msg_delete_key);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'D');
	cr_assert_eq(m.rel_oid, 16402);
	cr_assert(m.has_old);
	cr_assert_eq(m.old_kind, 'K');
	cr_assert_eq(m.old.ncols, 5);
	cr_assert_eq(m.new.ncols, 0);
	cr_assert_null(m.new.vals);
	pgo_msg_clear(&m);

	sample(msg_delete_old);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.old_kind, 'O');
	cr_assert_eq(m.old.ncols, 5);
	assert_val(&m.old.vals[0], 't', "job-1", 5);
	pgo_msg_clear(&m);
}

Test(pgoutput, truncate)
{
	sample(msg_truncate);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'T');
	cr_assert_eq(m.flags, 3, "CASCADE and RESTART IDENTITY");
	cr_assert_eq(m.ntrunc, 2);
	cr_assert_eq(m.trunc_oids[0], 16402);
	cr_assert_eq(m.trunc_oids[1], 0xFFFFFFF0);
	pgo_msg_clear(&m);

	w.n = 0;
	put_u8(&w, 'T');
	put_u32(&w, 0);
	put_u8(&w, 0);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.ntrunc, 0);
	cr_assert_null(m.trunc_oids);
	pgo_msg_clear(&m);
}

Test(pgoutput, logical_decoding_message)
{
	sample(msg_message);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(m.type, 'M');
	cr_assert_eq(m.flags, 1);
	cr_assert_eq(m.lsn, UINT64_C(0x16B3800));
	cr_assert_str_eq(m.name, "tp");
	cr_assert_eq(m.content_len, 4);
	cr_assert(memcmp(m.content, "a\0b\xff", 4) == 0);
	pgo_msg_clear(&m);

	w.n = 0;
	put_u8(&w, 'M');
	put_u8(&w, 0);
	put_u64(&w, 7);
	put_str(&w, "");
	put_u32(&w, 0);
	cr_assert_eq(parse(w.b, w.n, &m), 0, "empty prefix and content");
	cr_assert_str_eq(m.name, "");
	cr_assert_eq(m.content_len, 0);
	pgo_msg_clear(&m);
}

/* Streaming, two-phase and whatever comes later: skipped, not refused. */
Test(pgoutput, other_types_are_skipped)
{
	static const char	 other[] = "SEcAbPKrpx?\x00\xff";
	unsigned char		 buf[16];
	size_t			 i;

	memset(buf, 0xff, sizeof(buf));
	for (i = 0; i < sizeof(other) - 1; i++) {
		buf[0] = (unsigned char)other[i];
		cr_assert_eq(parse(buf, sizeof(buf), &m), 0, "type 0x%02x", buf[0]);
		cr_assert_eq(m.type, '?');
		cr_assert_null(m.new.vals);
		pgo_msg_clear(&m);
		cr_assert_eq(parse(buf, 1, &m), 0, "type 0x%02x alone", buf[0]);
		cr_assert_eq(m.type, '?');
	}
	cr_assert_eq(parse(buf, 0, &m), -1, "nothing at all");
	assert_zeroed(&m);
}

Test(pgoutput, clear_twice_and_on_zero)
{
	sample(msg_relation);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	pgo_msg_clear(&m);
	pgo_msg_clear(&m);
	memset(&m, 0, sizeof(m));
	pgo_msg_clear(&m);
	assert_zeroed(&m);
}

/* --- malformed ----------------------------------------------------------------- */

Test(malformed, every_truncation_and_a_trailing_byte)
{
	size_t	 i, cut;

	for (i = 0; i < NSAMPLES; i++) {
		sample(samples[i]);
		cr_assert_eq(parse(w.b, w.n, &m), 0, "sample %zu ('%c')", i, w.b[0]);
		pgo_msg_clear(&m);
		for (cut = 0; cut < w.n; cut++) {
			cr_assert_eq(parse(w.b, cut, &m), -1, "sample '%c' cut at %zu of %zu",
			    w.b[0], cut, w.n);
			assert_zeroed(&m);
			pgo_msg_clear(&m);
		}
		put_u8(&w, 0);
		cr_assert_eq(parse(w.b, w.n, &m), -1, "sample '%c' with a trailing byte", w.b[0]);
		assert_zeroed(&m);
	}
}

/* The same inside XLogData: a cut frame is a whole frame with a cut message. */
Test(malformed, xlogdata_of_every_truncation)
{
	struct repl_frame	 f;
	size_t			 i, cut, hdr;

	for (i = 0; i < NSAMPLES; i++) {
		w.n = 0;
		put_u8(&w, 'w');
		put_u64(&w, 1);
		put_u64(&w, 2);
		put_u64(&w, 3);
		hdr = w.n;
		samples[i](&w);
		for (cut = hdr; cut < w.n; cut++) {
			cr_assert_eq(repl_frame_parse(w.b, cut, &f), 0);
			cr_assert_eq(f.len, cut - hdr);
			cr_assert_eq(parse(f.data, f.len, &m), -1, "cut at %zu", cut);
		}
	}
}

Test(malformed, tuple_counts_past_the_end)
{
	w.n = 0;
	put_u8(&w, 'I');
	put_u32(&w, 1);
	put_u8(&w, 'N');
	put_u16(&w, 100);
	put_u8(&w, 'n');
	put_u8(&w, 'n');
	put_u8(&w, 'n');
	cr_assert_eq(parse(w.b, w.n, &m), -1, "100 columns in 3 bytes");
	assert_zeroed(&m);

	w.n = 0;
	put_u8(&w, 'I');
	put_u32(&w, 1);
	put_u8(&w, 'N');
	put_u16(&w, 0xFFFF);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "-1 columns");
}

Test(malformed, value_lengths_past_the_end)
{
	static const uint32_t	 lens[] = { 4, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF };
	size_t			 i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		w.n = 0;
		put_u8(&w, 'I');
		put_u32(&w, 1);
		put_u8(&w, 'N');
		put_u16(&w, 1);
		put_u8(&w, i % 2 ? 'b' : 't');
		put_u32(&w, lens[i]);
		put_mem(&w, "abc", 3);
		cr_assert_eq(parse(w.b, w.n, &m), -1, "length %u in 3 bytes", lens[i]);
		assert_zeroed(&m);
	}
	/* The error after an allocation: the second tuple of an update. */
	w.n = 0;
	put_u8(&w, 'U');
	put_u32(&w, 1);
	put_u8(&w, 'O');
	tuple_all_kinds(&w);
	put_u8(&w, 'N');
	put_u16(&w, 1);
	put_u8(&w, 't');
	put_u32(&w, 0xFFFFFFFF);
	cr_assert_eq(parse(w.b, w.n, &m), -1);
	assert_zeroed(&m);
}

Test(malformed, relation_counts_past_the_end)
{
	w.n = 0;
	put_u8(&w, 'R');
	put_u32(&w, 1);
	put_str(&w, "public");
	put_str(&w, "t");
	put_u8(&w, 'd');
	put_u16(&w, 3);
	put_u8(&w, 0);
	put_str(&w, "a");
	put_u32(&w, 25);
	put_u32(&w, 0xFFFFFFFF);
	put_mem(&w, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 18);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "3 columns where 2 at most fit");
	assert_zeroed(&m);

	/* The second column's name runs to the end: the first one's is freed. */
	w.n = 0;
	put_u8(&w, 'R');
	put_u32(&w, 1);
	put_str(&w, "public");
	put_str(&w, "t");
	put_u8(&w, 'd');
	put_u16(&w, 2);
	put_u8(&w, 0);
	put_str(&w, "a");
	put_u32(&w, 25);
	put_u32(&w, 0xFFFFFFFF);
	put_u8(&w, 0);
	put_mem(&w, "bbbbbbbbbbbbbb", 14);
	cr_assert_eq(parse(w.b, w.n, &m), -1);
	assert_zeroed(&m);

	/* 'R', OID, "public\0", "training_progress\0", identity: the count. */
	sample(msg_relation);
	w.b[1 + 4 + 7 + 18 + 1] = 0xFF;
	w.b[1 + 4 + 7 + 18 + 2] = 0xFF;
	cr_assert_eq(parse(w.b, w.n, &m), -1, "-1 columns");
}

Test(malformed, truncate_counts_past_the_end)
{
	static const uint32_t	 counts[] = { 3, 0x40000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF };
	size_t			 i;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		w.n = 0;
		put_u8(&w, 'T');
		put_u32(&w, counts[i]);
		put_u8(&w, 0);
		put_u32(&w, 1);
		put_u32(&w, 2);
		cr_assert_eq(parse(w.b, w.n, &m), -1, "%u OIDs in 8 bytes", counts[i]);
		assert_zeroed(&m);
	}
}

Test(malformed, message_content_past_the_end)
{
	static const uint32_t	 lens[] = { 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF };
	size_t			 i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		w.n = 0;
		put_u8(&w, 'M');
		put_u8(&w, 0);
		put_u64(&w, 7);
		put_str(&w, "p");
		put_u32(&w, lens[i]);
		put_mem(&w, "ab", 2);
		cr_assert_eq(parse(w.b, w.n, &m), -1, "%u bytes in 2", lens[i]);
		assert_zeroed(&m);
	}
}

/* PostgreSQL's MaxTupleAttributeNumber is taken, one more is not. */
Test(malformed, column_counts_over_the_cap)
{
	int	 n, i;

	for (n = PGO_MAX_COLS; n <= PGO_MAX_COLS + 1; n++) {
		w.n = 0;
		put_u8(&w, 'R');
		put_u32(&w, 1);
		put_str(&w, "public");
		put_str(&w, "wide");
		put_u8(&w, 'f');
		put_u16(&w, (uint16_t)n);
		for (i = 0; i < n; i++) {
			put_u8(&w, 0);
			put_str(&w, "c");
			put_u32(&w, 23);
			put_u32(&w, 0xFFFFFFFF);
		}
		cr_assert_eq(parse(w.b, w.n, &m), n == PGO_MAX_COLS ? 0 : -1, "relation of %d", n);
		if (n == PGO_MAX_COLS)
			cr_assert_eq(m.rel.ncols, n);
		pgo_msg_clear(&m);

		w.n = 0;
		put_u8(&w, 'I');
		put_u32(&w, 1);
		put_u8(&w, 'N');
		put_u16(&w, (uint16_t)n);
		for (i = 0; i < n; i++)
			put_u8(&w, 'n');
		cr_assert_eq(parse(w.b, w.n, &m), n == PGO_MAX_COLS ? 0 : -1, "tuple of %d", n);
		if (n == PGO_MAX_COLS)
			cr_assert_eq(m.new.ncols, n);
		pgo_msg_clear(&m);
	}
}

Test(malformed, strings_without_nul)
{
	w.n = 0;
	put_u8(&w, 'O');
	put_u64(&w, 1);
	put_mem(&w, "origin", 6);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "origin");

	w.n = 0;
	put_u8(&w, 'Y');
	put_u32(&w, 1);
	put_str(&w, "public");
	put_mem(&w, "typname", 7);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "type name");

	w.n = 0;
	put_u8(&w, 'R');
	put_u32(&w, 1);
	put_str(&w, "public");
	put_mem(&w, "training_progress", 17);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "relation name");
	assert_zeroed(&m);

	w.n = 0;
	put_u8(&w, 'R');
	put_u32(&w, 1);
	put_mem(&w, "public", 6);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "namespace");

	w.n = 0;
	put_u8(&w, 'M');
	put_u8(&w, 0);
	put_u64(&w, 1);
	put_mem(&w, "prefix", 6);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "message prefix");
}

Test(malformed, markers_and_kinds)
{
	static const char	 kinds[] = "NKOTBx\0\x80";
	size_t			 i;

	w.n = 0;
	put_u8(&w, 'I');
	put_u32(&w, 1);
	put_u8(&w, 'K');
	tuple_key(&w);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "an insert's tuple is 'N'");

	w.n = 0;
	put_u8(&w, 'U');
	put_u32(&w, 1);
	put_u8(&w, 'X');
	tuple_key(&w);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "an update's marker 'X'");

	w.n = 0;
	put_u8(&w, 'U');
	put_u32(&w, 1);
	put_u8(&w, 'K');
	tuple_key(&w);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "an update with an old tuple and no new one");
	assert_zeroed(&m);

	w.n = 0;
	put_u8(&w, 'U');
	put_u32(&w, 1);
	put_u8(&w, 'K');
	tuple_key(&w);
	put_u8(&w, 'K');
	tuple_key(&w);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "two old tuples");
	assert_zeroed(&m);

	w.n = 0;
	put_u8(&w, 'D');
	put_u32(&w, 1);
	put_u8(&w, 'N');
	tuple_key(&w);
	cr_assert_eq(parse(w.b, w.n, &m), -1, "a delete's tuple is 'K' or 'O'");

	for (i = 0; i < sizeof(kinds) - 1; i++) {
		w.n = 0;
		put_u8(&w, 'I');
		put_u32(&w, 1);
		put_u8(&w, 'N');
		put_u16(&w, 2);
		put_u8(&w, 'n');
		put_u8(&w, (uint8_t)kinds[i]);
		put_mem(&w, "\0\0\0\0", 4);
		cr_assert_eq(parse(w.b, w.n, &m), -1, "value kind 0x%02x", (uint8_t)kinds[i]);
		assert_zeroed(&m);
	}
}

/* --- the relation cache -------------------------------------------------------- */

static void
relation_named(struct pgo_relation *rel, uint32_t oid, const char *name, int ncols)
{
	int	 i;

	w.n = 0;
	put_u8(&w, 'R');
	put_u32(&w, oid);
	put_str(&w, "public");
	put_str(&w, name);
	put_u8(&w, 'd');
	put_u16(&w, (uint16_t)ncols);
	for (i = 0; i < ncols; i++) {
		put_u8(&w, i == 0);
		put_str(&w, i == 0 ? "id" : "x");
		put_u32(&w, 23);
		put_u32(&w, 0xFFFFFFFF);
	}
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	*rel = m.rel;
	memset(&m.rel, 0, sizeof(m.rel));
}

Test(relations, put_get_replace)
{
	struct pgo_relations		*rs;
	const struct pgo_relation	*r;
	struct pgo_relation		 rel;

	cr_assert_not_null(rs = pgo_relations_new());
	cr_assert_null(pgo_relations_get(rs, 16402), "empty");

	sample(msg_relation);
	cr_assert_eq(parse(w.b, w.n, &m), 0);
	cr_assert_eq(pgo_relations_put(rs, &m.rel), 0);
	cr_assert_null(m.rel.cols, "moved out of the message");
	cr_assert_null(m.rel.relname);
	pgo_msg_clear(&m);
	cr_assert_not_null(r = pgo_relations_get(rs, 16402));
	cr_assert_str_eq(r->relname, "training_progress");
	cr_assert_eq(r->ncols, 5);
	cr_assert_null(pgo_relations_get(rs, 16401), "unknown");
	cr_assert_null(pgo_relations_get(rs, 16403), "unknown");
	cr_assert_null(pgo_relations_get(rs, 0));

	/* An ALTER TABLE: the same OID again, described anew. */
	relation_named(&rel, 16402, "renamed", 1);
	cr_assert_eq(pgo_relations_put(rs, &rel), 0);
	cr_assert_null(rel.relname);
	cr_assert_not_null(r = pgo_relations_get(rs, 16402));
	cr_assert_str_eq(r->relname, "renamed");
	cr_assert_eq(r->ncols, 1);
	cr_assert(r->cols[0].key);

	relation_named(&rel, 7, "other", 0);
	cr_assert_eq(pgo_relations_put(rs, &rel), 0);
	cr_assert_str_eq(pgo_relations_get(rs, 7)->relname, "other");
	cr_assert_str_eq(pgo_relations_get(rs, 16402)->relname, "renamed");
	pgo_relations_free(rs);
	pgo_relations_free(NULL);
}

/* Many, in an order neither sorted nor reversed: each found, none invented. */
Test(relations, many)
{
	struct pgo_relations		*rs;
	const struct pgo_relation	*r;
	struct pgo_relation		 rel;
	char				 name[16];
	uint32_t			 i, oid;

	cr_assert_not_null(rs = pgo_relations_new());
	for (i = 0; i < 300; i++) {
		oid = (i * 7919) % 300 * 2 + 1;	/* each odd OID below 600 once */
		snprintf(name, sizeof(name), "t%u", oid);
		relation_named(&rel, oid, name, (int)(i % 4));
		cr_assert_eq(pgo_relations_put(rs, &rel), 0);
	}
	for (oid = 0; oid < 602; oid++) {
		r = pgo_relations_get(rs, oid);
		if (oid % 2 == 0 || oid >= 600) {
			cr_assert_null(r, "OID %u", oid);
			continue;
		}
		cr_assert_not_null(r, "OID %u", oid);
		snprintf(name, sizeof(name), "t%u", oid);
		cr_assert_str_eq(r->relname, name);
		cr_assert_eq(r->oid, oid);
	}
	cr_assert_null(pgo_relations_get(rs, UINT32_MAX));
	pgo_relations_free(rs);
}

/* How tp-notify reads a stream: RELATION, then rows against it. */
Test(relations, a_stream)
{
	void (*const stream[])(struct wbuf *) = {
		msg_begin, msg_relation, msg_insert, msg_update_key, msg_delete_key, msg_commit,
	};
	struct pgo_relations		*rs;
	const struct pgo_relation	*r;
	size_t				 i;
	int				 rows = 0;

	cr_assert_not_null(rs = pgo_relations_new());
	for (i = 0; i < sizeof(stream) / sizeof(stream[0]); i++) {
		sample(stream[i]);
		cr_assert_eq(parse(w.b, w.n, &m), 0);
		switch (m.type) {
		case 'R':
			cr_assert_eq(pgo_relations_put(rs, &m.rel), 0);
			break;
		case 'I':
		case 'U':
		case 'D':
			cr_assert_not_null(r = pgo_relations_get(rs, m.rel_oid));
			cr_assert_str_eq(r->relname, "training_progress");
			if (m.has_old)
				cr_assert_eq(m.old.ncols, r->ncols);
			if (m.type != 'D')
				cr_assert_eq(m.new.ncols, r->ncols);
			rows++;
			break;
		}
		pgo_msg_clear(&m);
	}
	cr_assert_eq(rows, 3);
	pgo_relations_free(rs);
}
