/*
 * http_loop.c — many HTTP transfers at once for the background worker.
 *
 * libcurl's multi "socket" interface tells us which sockets to watch
 * (on_socket) and when its next timeout is due (on_timer). The sockets go
 * into an epoll set of our own; the worker puts that one descriptor in its
 * WaitEventSet beside its latch, so a single wait covers the latch,
 * postmaster death and every socket of every run in flight, however many.
 */
#include "pg_prelude.h"

#include <math.h>
#include <sys/epoll.h>

#include "utils/memutils.h"

#include "http.h"
#include "http_int.h"

struct PaHttpLoop
{
	CURLM	   *multi;
	int			epfd;
	bool		timer_set;
	instr_time	timer_at;
	PaHttpTransfer *head;		/* transfers in flight */
	int			active;
	bool		any_idle_timeout;
};

static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	PaHttpLoop *loop = (PaHttpLoop *) userp;
	struct epoll_event ev = {0};

	if (what == CURL_POLL_REMOVE)
	{
		/* the socket may already be closed: ENOENT/EBADF are fine */
		(void) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.data.fd = s;
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, s, &ev) != 0 &&
		(errno != ENOENT || epoll_ctl(loop->epfd, EPOLL_CTL_ADD, s, &ev) != 0))
		return -1;				/* libcurl fails the transfer */
	return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	PaHttpLoop *loop = (PaHttpLoop *) userp;

	if (timeout_ms < 0)
		loop->timer_set = false;
	else
	{
		instr_time	delta;

		INSTR_TIME_SET_CURRENT(loop->timer_at);
		delta.tv_sec = timeout_ms / 1000;
		delta.tv_nsec = (timeout_ms % 1000) * 1000000L;
		INSTR_TIME_ADD(loop->timer_at, delta);
		loop->timer_set = true;
	}
	return 0;
}

PaHttpLoop *
pa_http_loop_create(void)
{
	PaHttpLoop *loop = MemoryContextAllocZero(TopMemoryContext, sizeof(PaHttpLoop));

	pa_http_global_init();
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create an epoll descriptor: %m")));
	loop->multi = curl_multi_init();
	if (loop->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
	curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
	/* many runs talk to the same provider: reuse its connections */
	curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, 1024L);
	return loop;
}

int
pa_http_loop_fd(PaHttpLoop *loop)
{
	return loop->epfd;
}

int
pa_http_loop_active(PaHttpLoop *loop)
{
	return loop->active;
}

/* Milliseconds until libcurl's next timeout; -1 when it has none. */
long
pa_http_loop_timeout_ms(PaHttpLoop *loop)
{
	instr_time	now;
	instr_time	left;
	long		ms;

	/* idle timeouts are ours: look at least every 100 ms */
	long		cap = loop->any_idle_timeout ? 100 : -1;

	if (!loop->timer_set)
		return cap;
	INSTR_TIME_SET_CURRENT(now);
	if (INSTR_TIME_GET_MICROSEC(now) >= INSTR_TIME_GET_MICROSEC(loop->timer_at))
		return 0;
	left = loop->timer_at;
	INSTR_TIME_SUBTRACT(left, now);
	ms = (long) ceil(INSTR_TIME_GET_MILLISEC(left));
	return cap >= 0 ? Min(ms, cap) : ms;
}

static void
unlink_transfer(PaHttpLoop *loop, PaHttpTransfer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		loop->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	loop->active--;
}

PaHttpTransfer *
pa_http_start(PaHttpLoop *loop, const PaHttpRequest *req, PaHttpResponse *resp,
			  void (*done) (void *arg), void *arg)
{
	PaHttpTransfer *t = pa_http_transfer_new(req, resp);
	CURLMcode	mc;

	t->done = done;
	t->done_arg = arg;
	mc = curl_multi_add_handle(loop->multi, t->easy);
	if (mc != CURLM_OK)
	{
		pa_http_transfer_free(t);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not add a transfer to the libcurl multi handle: %s",
						curl_multi_strerror(mc))));
	}
	t->next = loop->head;
	if (loop->head)
		loop->head->prev = t;
	loop->head = t;
	loop->active++;
	if (req->idle_timeout_ms > 0)
		loop->any_idle_timeout = true;
	return t;
}

void
pa_http_abandon(PaHttpLoop *loop, PaHttpTransfer *t)
{
	if (t->easy == NULL)
		return;
	curl_multi_remove_handle(loop->multi, t->easy);
	pa_http_transfer_free(t);
	unlink_transfer(loop, t);
}

/*
 * Let libcurl act on the sockets that are ready and on its timer, then
 * hand every finished transfer to its done callback. Callbacks run after
 * libcurl is done with the multi handle, so they may start new transfers.
 */
void
pa_http_loop_run(PaHttpLoop *loop)
{
	struct epoll_event evs[256];
	int			n;
	int			i;
	int			running;
	CURLMsg    *msg;
	int			left;
	PaHttpTransfer *finished = NULL;
	PaHttpTransfer *t;
	PaHttpTransfer *next;

	do
	{
		n = epoll_wait(loop->epfd, evs, lengthof(evs), 0);
		for (i = 0; i < n; i++)
		{
			int			mask = 0;

			if (evs[i].events & EPOLLIN)
				mask |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				mask |= CURL_CSELECT_ERR;
			curl_multi_socket_action(loop->multi, evs[i].data.fd, mask, &running);
		}
	} while (n == lengthof(evs));

	if (loop->timer_set && pa_http_loop_timeout_ms(loop) == 0)
	{
		loop->timer_set = false;
		curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}

	while ((msg = curl_multi_info_read(loop->multi, &left)) != NULL)
	{
		CURLcode	result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* the message does not survive removing its handle */
		result = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		curl_multi_remove_handle(loop->multi, t->easy);
		pa_http_transfer_conclude(t, result);
		unlink_transfer(loop, t);
		t->next = finished;
		finished = t;
	}

	/* our idle timeouts (streams that stalled) */
	if (loop->any_idle_timeout)
	{
		bool		any = false;

		for (t = loop->head; t; t = next)
		{
			next = t->next;
			if (t->req->idle_timeout_ms <= 0)
				continue;
			any = true;
			if (pa_http_transfer_idle(t))
			{
				curl_multi_remove_handle(loop->multi, t->easy);
				pa_http_transfer_conclude(t, CURLE_OK);
				unlink_transfer(loop, t);
				t->next = finished;
				finished = t;
			}
		}
		loop->any_idle_timeout = any;
	}

	for (t = finished; t; t = next)
	{
		next = t->next;
		t->next = NULL;
		t->finished = true;
		t->done(t->done_arg);
	}
}
