/*
 * log.h: one-line, leveled logging to stderr for both programs.
 * Lines look like: "2026-01-29T10:00:00.123Z chat-fcgi[123] warn: text".
 * Control bytes in the message are escaped so peers cannot forge lines.
 * Never log a token, JWT, password or whole request body.
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

enum	log_level {
	LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR
};

/* Set the program name and read LOG_LEVEL (debug|info|warn|error). */
void	 log_init(const char *prog);
int	 log_enabled(enum log_level);
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* log_errx logs at level error and exits with status 1. */
void	 log_errx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* !LIB_LOG_H */
