# Dockerfile: the chat programs (chat-fcgi, chat-realtime), the migrations
# and the web client in one Debian 12 image; compose.yml runs each program
# as its own service from it.  Build: docker build -t chat .
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
	build-essential autoconf automake pkg-config libpq-dev libjansson-dev \
	libjwt-dev libhiredis-dev libssl-dev libcrypt-dev libfcgi-dev libev-dev \
	nodejs npm ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN autoreconf -fi && ./configure --prefix=/usr/local && make -j"$(nproc)" && \
	make install-strip && (cd nginx && npm ci --no-audit --no-fund)

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
	libpq5 libjansson4 libjwt0 libhiredis0.14 libssl3 libcrypt1 libfcgi0ldbl \
	libev4 postgresql-client nginx-light ca-certificates && rm -rf /var/lib/apt/lists/* && \
	useradd --system --home /var/lib/chat --shell /usr/sbin/nologin chat && \
	install -d -o chat -g chat /var/lib/chat/uploads/avatars /run/chat
COPY --from=build /usr/local/bin/chat-fcgi /usr/local/bin/chat-realtime /usr/local/bin/
COPY --from=build /src/sql /usr/local/share/chat/sql
COPY --from=build /src/nginx/public /usr/local/share/chat/public
COPY --from=build /src/nginx/node_modules/socket.io-client/dist /usr/local/share/chat/vendor/socket.io
COPY deploy/docker/migrate /usr/local/bin/chat-migrate
COPY deploy/docker/nginx.conf /etc/nginx/chat.conf
USER chat
ENV UPLOAD_DIR=/var/lib/chat/uploads
CMD ["chat-fcgi", "-s", "/run/chat/fcgi.sock"]
