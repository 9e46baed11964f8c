/* fuzz_pgoutput.c: libFuzzer target for lib/pgoutput.c: replication framing, pgoutput messages, the relation cache. */
#include <stdlib.h>
#include <string.h>

#include "../../lib/pgoutput.h"
#include "common.h"

/*
 * A message written back from what the parser read, by an encoder of its
 * own after the protocol's documentation: since the parser refuses
 * trailing bytes and any byte it would lose (a column's flags, a
 * keepalive's reply), what it accepts must write back byte for byte.
 */
struct out {
	unsigned char	*b;
	size_t		 n;
	size_t		 cap;
};

static void
out_mem(struct out *o, const void *p, size_t n)
{
	size_t	 cap;

	if (o->n + n > o->cap) {
		for (cap = o->cap ? o->cap : 256; cap < o->n + n; cap *= 2)
			;
		if ((o->b = realloc(o->b, cap)) == NULL)
			abort();
		o->cap = cap;
	}
	if (n > 0)
		memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void
out_be(struct out *o, uint64_t v, int bytes)
{
	unsigned char	 b[8];
	int		 i;

	for (i = bytes - 1; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)v;
	out_mem(o, b, (size_t)bytes);
}

static void
out_str(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s) + 1);
}

static void
out_tuple(struct out *o, const struct pgo_tuple *t)
{
	const struct pgo_value	*v;
	int			 i;

	out_be(o, (uint64_t)t->ncols, 2);
	for (i = 0; i < t->ncols; i++) {
		v = &t->vals[i];
		out_be(o, (unsigned char)v->kind, 1);
		if (v->kind == 't' || v->kind == 'b') {
			out_be(o, v->len, 4);
			out_mem(o, v->data, v->len);
		}
	}
}

static void
out_relation(struct out *o, const struct pgo_relation *rel)
{
	int	 i;

	out_be(o, 'R', 1);
	out_be(o, rel->oid, 4);
	out_str(o, rel->nspname);
	out_str(o, rel->relname);
	out_be(o, (unsigned char)rel->identity, 1);
	out_be(o, (uint64_t)rel->ncols, 2);
	for (i = 0; i < rel->ncols; i++) {
		out_be(o, rel->cols[i].key ? 1 : 0, 1);
		out_str(o, rel->cols[i].name);
		out_be(o, rel->cols[i].type_oid, 4);
		out_be(o, (uint32_t)rel->cols[i].typmod, 4);
	}
}

static void
out_msg(struct out *o, const struct pgo_msg *m)
{
	int	 i;

	switch (m->type) {
	case 'B':
		out_be(o, 'B', 1);
		out_be(o, m->lsn, 8);
		out_be(o, (uint64_t)m->time, 8);
		out_be(o, m->xid, 4);
		break;
	case 'C':
		out_be(o, 'C', 1);
		out_be(o, m->flags, 1);
		out_be(o, m->lsn, 8);
		out_be(o, m->end_lsn, 8);
		out_be(o, (uint64_t)m->time, 8);
		break;
	case 'O':
		out_be(o, 'O', 1);
		out_be(o, m->lsn, 8);
		out_str(o, m->name);
		break;
	case 'R':
		out_relation(o, &m->rel);
		break;
	case 'Y':
		out_be(o, 'Y', 1);
		out_be(o, m->type_oid, 4);
		out_str(o, m->nspname);
		out_str(o, m->name);
		break;
	case 'I':
	case 'U':
	case 'D':
		out_be(o, (unsigned char)m->type, 1);
		out_be(o, m->rel_oid, 4);
		if (m->has_old) {
			out_be(o, (unsigned char)m->old_kind, 1);
			out_tuple(o, &m->old);
		}
		if (m->type != 'D') {
			out_be(o, 'N', 1);
			out_tuple(o, &m->new);
		}
		break;
	case 'T':
		out_be(o, 'T', 1);
		out_be(o, (uint64_t)m->ntrunc, 4);
		out_be(o, m->flags, 1);
		for (i = 0; i < m->ntrunc; i++)
			out_be(o, m->trunc_oids[i], 4);
		break;
	case 'M':
		out_be(o, 'M', 1);
		out_be(o, m->flags, 1);
		out_be(o, m->lsn, 8);
		out_str(o, m->name);
		out_be(o, m->content_len, 4);
		out_mem(o, m->content, m->content_len);
		break;
	}
}

/* Does [p, p + n) lie in [buf, buf + len)? */
static bool
inside(const void *p, size_t n, const unsigned char *buf, size_t len)
{
	const unsigned char	*c = p;

	return c >= buf && c <= buf + len && n <= (size_t)(buf + len - c);
}

static void
check_tuple(const char *which, const struct pgo_tuple *t, const unsigned char *buf,
    size_t len)
{
	const struct pgo_value	*v;
	int			 i;

	CHECK("pgo-tuple", t->ncols >= 0 && t->ncols <= PGO_MAX_COLS &&
	    (t->ncols == 0) == (t->vals == NULL), "%s tuple: %d columns, vals %p", which,
	    t->ncols, (void *)t->vals);
	for (i = 0; i < t->ncols; i++) {
		v = &t->vals[i];
		if (v->kind == 'n' || v->kind == 'u')
			CHECK("pgo-value", v->data == NULL && v->len == 0,
			    "%s column %d: '%c' with data", which, i, v->kind);
		else
			CHECK("pgo-value", (v->kind == 't' || v->kind == 'b') &&
			    inside(v->data, v->len, buf, len), "%s column %d: kind 0x%02x, "
			    "%u bytes, not within the message", which, i, (unsigned char)v->kind,
			    v->len);
	}
}

/* Parses a copy of exactly len bytes: ASan sees a read past the end. */
static int
parse_copy(const unsigned char *b, size_t len, struct pgo_msg *m, unsigned char **copy)
{
	if ((*copy = malloc(len ? len : 1)) == NULL)
		abort();
	if (len > 0)
		memcpy(*copy, b, len);
	return pgo_parse(*copy, len, m);
}

/* A type pgo_parse() reads (strchr() would find '\0' too). */
static bool
known(unsigned char type)
{
	return memchr("BCORYIUDTM", type, 10) != NULL;
}

static bool
is_zero(const struct pgo_msg *m)
{
	static const struct pgo_msg	 zero;

	return memcmp(m, &zero, sizeof(zero)) == 0;
}

/*
 * One pgoutput message: parsed, checked, written back; refused when cut
 * short by a byte or given one more.  With a cache, a RELATION goes into
 * it and a row is read against what it holds.
 */
static void
check_message(const unsigned char *data, size_t len, struct pgo_relations *rs)
{
	const struct pgo_relation	*r;
	struct pgo_msg			 m, m2;
	struct out			 o = { NULL, 0, 0 };
	unsigned char			*buf, *cut;
	int				 rc, i;

	rc = parse_copy(data, len, &m, &buf);
	CHECK("pgo-result", rc == 0 || rc == -1, "result %d", rc);
	if (rc == -1) {
		CHECK("pgo-refused-empty", is_zero(&m), "a refused message holds something");
		CHECK("pgo-refused-known", len == 0 || known(data[0]),
		    "type 0x%02x refused, not skipped", data[0]);
		pgo_msg_clear(&m);
		free(buf);
		return;
	}
	if (m.type == '?') {
		CHECK("pgo-other", len > 0 && !known(data[0]), "type 0x%02x skipped", data[0]);
		m.type = 0;
		CHECK("pgo-other", is_zero(&m), "a skipped message holds something");
		free(buf);
		return;
	}
	CHECK("pgo-type", m.type == (char)data[0], "type '%c' for 0x%02x", m.type, data[0]);
	check_tuple("old", &m.old, buf, len);
	check_tuple("new", &m.new, buf, len);
	CHECK("pgo-old", m.has_old == (m.old_kind == 'K' || m.old_kind == 'O') &&
	    (m.has_old || m.old.ncols == 0), "has_old %d, old_kind 0x%02x", m.has_old,
	    (unsigned char)m.old_kind);
	CHECK("pgo-rel", m.rel.ncols >= 0 && m.rel.ncols <= PGO_MAX_COLS, "%d columns",
	    m.rel.ncols);
	CHECK("pgo-trunc", m.ntrunc >= 0 && (m.ntrunc == 0) == (m.trunc_oids == NULL),
	    "%d OIDs", m.ntrunc);
	if (m.name != NULL)
		CHECK("pgo-string", inside(m.name, strlen(m.name) + 1, buf, len), "name outside");
	if (m.nspname != NULL)
		CHECK("pgo-string", inside(m.nspname, strlen(m.nspname) + 1, buf, len),
		    "nspname outside");
	if (m.content_len > 0)
		CHECK("pgo-content", inside(m.content, m.content_len, buf, len), "content outside");

	out_msg(&o, &m);
	CHECK("pgo-roundtrip", o.n == len && memcmp(o.b, data, len) == 0,
	    "type '%c': %zu bytes read, %zu written back differ", m.type, len, o.n);

	/* A message ends where its last field does: one byte less or more is refused. */
	rc = parse_copy(data, len - 1, &m2, &cut);
	CHECK("pgo-prefix", rc == -1, "'%c' of %zu bytes accepted cut to %zu", m.type, len,
	    len - 1);
	pgo_msg_clear(&m2);
	free(cut);
	if ((cut = malloc(len + 1)) == NULL)
		abort();
	memcpy(cut, data, len);
	cut[len] = data[len / 2];
	rc = pgo_parse(cut, len + 1, &m2);
	CHECK("pgo-trailing", rc == -1, "'%c' of %zu bytes accepted with one more", m.type,
	    len);
	pgo_msg_clear(&m2);
	free(cut);

	if (rs != NULL) {
		switch (m.type) {
		case 'R':
			if (pgo_relations_put(rs, &m.rel) == -1)
				abort();
			CHECK("rel-moved", m.rel.cols == NULL && m.rel.relname == NULL,
			    "put left the relation in the message");
			r = pgo_relations_get(rs, (uint32_t)data[1] << 24 |
			    (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4]);
			CHECK("rel-get", r != NULL, "a relation just put is not found");
			if (r != NULL) {
				o.n = 0;
				out_relation(&o, r);
				CHECK("rel-cached", o.n == len && memcmp(o.b, data, len) == 0,
				    "the cached relation is not the message's");
			}
			break;
		case 'I':
		case 'U':
		case 'D':
			/* A consumer's reading: each value by its column's name and type. */
			if ((r = pgo_relations_get(rs, m.rel_oid)) == NULL)
				break;
			CHECK("rel-get", r->oid == m.rel_oid, "asked %u, got %u", m.rel_oid,
			    r->oid);
			for (i = 0; i < r->ncols && (i < m.new.ncols || i < m.old.ncols); i++)
				CHECK("rel-column", r->cols[i].name != NULL &&
				    strlen(r->cols[i].name) < 65535, "column %d of relation %u: "
				    "no name, or longer than the message it came in", i, r->oid);
			break;
		case 'T':
			for (i = 0; i < m.ntrunc; i++)
				if ((r = pgo_relations_get(rs, m.trunc_oids[i])) != NULL)
					CHECK("rel-get", r->oid == m.trunc_oids[i], "asked %u, got %u",
					    m.trunc_oids[i], r->oid);
			break;
		}
	}
	free(o.b);
	pgo_msg_clear(&m);
	free(buf);
}

/* A CopyData payload: framing written back, XLogData's message checked. */
static void
check_frame(const unsigned char *data, size_t len)
{
	struct repl_frame	 f;
	struct out		 o = { NULL, 0, 0 };
	int			 rc;

	rc = repl_frame_parse(data, len, &f);
	CHECK("frame-result", rc == 0 || rc == -1, "result %d", rc);
	if (rc == -1) {
		CHECK("frame-refused", f.kind == 0 && f.data == NULL && f.len == 0,
		    "a refused frame holds something");
		CHECK("frame-refused", len == 0 || data[0] != 'w' || len < REPL_XLOGDATA_HDR,
		    "XLogData of %zu bytes refused", len);
		CHECK("frame-refused", len != REPL_KEEPALIVE_LEN || data[0] != 'k' ||
		    data[REPL_KEEPALIVE_LEN - 1] > 1, "a keepalive refused");
		return;
	}
	CHECK("frame-kind", f.kind == (char)data[0] && (f.kind == 'w' || f.kind == 'k'),
	    "kind 0x%02x for 0x%02x", (unsigned char)f.kind, data[0]);
	out_be(&o, (unsigned char)f.kind, 1);
	if (f.kind == 'w') {
		CHECK("frame-xlogdata", f.data == data + REPL_XLOGDATA_HDR &&
		    f.len == len - REPL_XLOGDATA_HDR, "data at %+td, %zu bytes of %zu",
		    f.data - data, f.len, len);
		out_be(&o, f.wal_start, 8);
	} else
		CHECK("frame-keepalive", len == REPL_KEEPALIVE_LEN && f.data == NULL &&
		    f.len == 0 && f.wal_start == 0, "keepalive of %zu bytes", len);
	out_be(&o, f.wal_end, 8);
	out_be(&o, (uint64_t)f.send_time, 8);
	if (f.kind == 'k')
		out_be(&o, f.reply, 1);
	else
		out_mem(&o, f.data, f.len);
	CHECK("frame-roundtrip", o.n == len && memcmp(o.b, data, len) == 0,
	    "'%c' of %zu bytes written back as %zu, differently", f.kind, len, o.n);
	free(o.b);
	if (f.kind == 'w')
		check_message(f.data, f.len, NULL);
}

/*
 * Messages each with a two-byte length before it (so at most 65535
 * bytes), read against one relation cache.
 */
static void
check_stream(const unsigned char *data, size_t len)
{
	struct pgo_relations	*rs;
	size_t			 n;

	if ((rs = pgo_relations_new()) == NULL)
		abort();
	while (len >= 2) {
		n = (size_t)data[0] << 8 | data[1];
		data += 2;
		len -= 2;
		if (n > len)
			n = len;
		check_message(data, n, rs);
		data += n;
		len -= n;
	}
	pgo_relations_free(rs);
}

/*
 * Input: a first byte that chooses (mod 3) a CopyData payload (framing,
 * then the message inside XLogData), one pgoutput message, or a stream
 * of them read against a relation cache; the rest is that.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		check_frame(data + 1, size - 1);
		break;
	case 1:
		check_message(data + 1, size - 1, NULL);
		break;
	default:
		check_stream(data + 1, size - 1);
		break;
	}
	return 0;
}
