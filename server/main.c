/*
 * main.c - stippled: settings, signals and the process's exit status.
 *
 * Start-up: settings (settings.c), then the rest of the daemon
 * (lifecycle.c: the model repository, every model loaded before the port
 * opens so readiness means something at once, the inference workers, then
 * HTTP). Signals are blocked in every thread and taken here with sigwait(),
 * so no code runs in a signal handler:
 *   SIGHUP           rescan the repository and reload every model;
 *   SIGTERM, SIGINT  drain: readiness answers 503 and new inference requests
 *                    are refused at once; in-flight and queued requests get
 *                    drain_timeout_s to finish; then running work is
 *                    abandoned between layers, what still waits is answered
 *                    503, and the process exits 0.
 */
#include <signal.h>
#include <string.h>

#include "log.h"
#include "server.h"

static int serve(struct server *srv, const sigset_t *signals)
{
	for (;;) {
		int sig;

		if (sigwait(signals, &sig))
			continue;
		if (sig == SIGHUP) {
			int failed;

			log_msg(LOG_INFO, "SIGHUP: reloading the model repository");
			failed = repo_reload_all(srv->repo);
			log_msg(failed ? LOG_WARN : LOG_INFO, "reload done, %d failed", failed);
			continue;
		}
		log_msg(LOG_INFO, "%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		server_drain(srv);
		return 0;
	}
}

int main(int argc, char **argv)
{
	struct server srv;
	sigset_t signals;
	int rc;

	memset(&srv, 0, sizeof(srv));
	rc = config_parse(&srv.cfg, argc, argv);
	if (rc) {
		config_free(&srv.cfg);
		return rc > 0 ? 0 : 2;
	}
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = server_start(&srv) ? 1 : serve(&srv, &signals);
	server_stop(&srv);
	return rc;
}
