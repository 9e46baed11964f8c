/* handler_ping.c: GET/HEAD /_trainprog/ping, the load balancer's check. */
#include "pool.h"

/*
 * Cheap on purpose: it says that a worker accepted and answered, without
 * touching the database (whose state the status page reports).
 */
void
handle_ping(struct request *rq)
{
	static const char	 body[] = "{\"status\":\"ok\"}";

	http_reply_json(rq, 200, body, sizeof(body) - 1, NULL);
}
