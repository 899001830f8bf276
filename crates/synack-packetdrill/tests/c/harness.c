/* Drives libsynack_packetdrill.so the way packetdrill's --so_filename mode does: dlopen,
 * packetdrill_interface_init, socket calls, packets in through netdev_send and out through
 * netdev_receive, time through usleep/gettimeofday, and a blocking call on a second thread
 * while the main thread injects the packet it waits for.
 * Usage: harness PATH_TO_SO. Prints one line per step; exits non-zero on the first failure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_ifc.h"

static struct pd_ifc ifc;
static void *ud;

#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "FAILED at line %d: %s: ", __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                             \
			fprintf(stderr, "\n");                                    \
			exit(1);                                                  \
		}                                                                 \
	} while (0)

/* Internet checksum (RFC 1071) over a buffer, starting from `sum`. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static const uint8_t PEER[4] = {192, 0, 2, 1};
static const uint8_t US[4] = {192, 168, 0, 1};
#define PEER_PORT 40000
#define OUR_PORT 8080

/* An IPv4/TCP datagram from the peer to us, no options. Returns its length. */
static size_t segment(uint8_t *b, uint32_t seq, uint32_t ack, uint8_t flags,
		      const char *data, size_t len)
{
	size_t tcp_len = 20 + len, total = 20 + tcp_len;
	memset(b, 0, total);
	b[0] = 0x45;
	b[2] = total >> 8;
	b[3] = total & 0xff;
	b[8] = 64;
	b[9] = 6;
	memcpy(b + 12, PEER, 4);
	memcpy(b + 16, US, 4);
	uint16_t ipsum = csum_fold(csum_add(0, b, 20));
	b[10] = ipsum >> 8;
	b[11] = ipsum & 0xff;
	uint8_t *t = b + 20;
	t[0] = PEER_PORT >> 8;
	t[1] = PEER_PORT & 0xff;
	t[2] = OUR_PORT >> 8;
	t[3] = OUR_PORT & 0xff;
	uint32_t s = htonl(seq), a = htonl(ack);
	memcpy(t + 4, &s, 4);
	memcpy(t + 8, &a, 4);
	t[12] = 5 << 4;
	t[13] = flags;
	t[14] = 0xff; /* window 65535 */
	t[15] = 0xff;
	memcpy(t + 20, data, len);
	uint8_t pseudo[12] = {0};
	memcpy(pseudo, PEER, 4);
	memcpy(pseudo + 4, US, 4);
	pseudo[9] = 6;
	pseudo[10] = tcp_len >> 8;
	pseudo[11] = tcp_len & 0xff;
	uint16_t tsum = csum_fold(csum_add(csum_add(0, pseudo, 12), t, tcp_len));
	t[16] = tsum >> 8;
	t[17] = tsum & 0xff;
	return total;
}

struct seen {
	uint8_t flags;
	uint32_t seq, ack;
	size_t payload;
	long long at;
};

/* The next packet the stack sends, as packetdrill's sniffer loops for it. */
static struct seen receive(void)
{
	uint8_t b[2048];
	for (int tries = 0; tries < 1000; tries++) {
		size_t n = sizeof(b);
		long long at = 0;
		CHECK(ifc.netdev_receive(ud, b, &n, &at) == 0, "netdev_receive");
		if (n == 0)
			continue;
		CHECK(n >= 40 && b[9] == 6, "a TCP/IPv4 packet (%zu bytes)", n);
		CHECK(!memcmp(b + 12, US, 4) && !memcmp(b + 16, PEER, 4), "addresses");
		size_t ihl = (b[0] & 0xf) * 4;
		uint8_t *t = b + ihl;
		struct seen s;
		s.flags = t[13];
		memcpy(&s.seq, t + 4, 4);
		memcpy(&s.ack, t + 8, 4);
		s.seq = ntohl(s.seq);
		s.ack = ntohl(s.ack);
		s.payload = n - ihl - (t[12] >> 4) * 4;
		s.at = at;
		return s;
	}
	CHECK(0, "no packet came");
	return (struct seen){0};
}

static void inject(uint32_t seq, uint32_t ack, uint8_t flags, const char *data, size_t len)
{
	uint8_t b[2048];
	size_t n = segment(b, seq, ack, flags, data, len);
	CHECK(ifc.netdev_send(ud, b, n) == 0, "netdev_send");
}

static long long now_usecs(void)
{
	struct timeval tv;
	CHECK(ifc.gettimeofday(ud, &tv, NULL) == 0, "gettimeofday");
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

struct reader {
	int fd;
	char buf[100];
	ssize_t got;
};

struct connector {
	int fd, ret, err;
};

static void *blocking_connect(void *arg)
{
	struct connector *c = arg;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PEER_PORT)};
	memcpy(&to.sin_addr, PEER, 4);
	c->ret = ifc.connect(ud, c->fd, (struct sockaddr *)&to, sizeof(to));
	c->err = errno;
	return NULL;
}

static void *blocking_read(void *arg)
{
	struct reader *r = arg;
	r->got = ifc.read(ud, r->fd, r->buf, sizeof(r->buf));
	return NULL;
}

int main(int argc, char **argv)
{
	CHECK(argc == 2, "usage: harness LIB.so");
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	CHECK(h, "dlopen: %s", dlerror());
	pd_init_fn init = (pd_init_fn)dlsym(h, "packetdrill_interface_init");
	CHECK(init, "dlsym packetdrill_interface_init");
	memset(&ifc, 0, sizeof(ifc));
	init("local_ip=192.168.0.1", &ifc);
	ud = ifc.userdata;
	CHECK(ud && ifc.socket && ifc.netdev_receive && ifc.splice, "table filled");
	printf("init ok\n");

	long long t0 = now_usecs();
	int fd = ifc.socket(ud, AF_INET, SOCK_STREAM, IPPROTO_TCP);
	CHECK(fd == 3, "socket = %d", fd);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(OUR_PORT)};
	memcpy(&a.sin_addr, US, 4);
	CHECK(ifc.bind(ud, fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind errno %d", errno);
	CHECK(ifc.listen(ud, fd, 1) == 0, "listen");
	CHECK(ifc.fcntl(ud, fd, F_SETFL, O_RDWR | O_NONBLOCK) == 0, "fcntl");
	CHECK(ifc.fcntl(ud, fd, F_GETFL) == (O_RDWR | O_NONBLOCK), "F_GETFL");
	CHECK(ifc.accept(ud, fd, NULL, NULL) == -1 && errno == EAGAIN, "accept EAGAIN");
	printf("listening\n");

	/* The handshake, packet by packet. */
	inject(1000, 0, 0x02, "", 0);
	struct seen synack = receive();
	CHECK(synack.flags == 0x12, "SYN,ACK flags %#x", synack.flags);
	CHECK(synack.ack == 1001, "SYN,ACK acks our SYN: %u", synack.ack);
	CHECK(synack.at == t0, "sent at once");
	inject(1001, synack.seq + 1, 0x10, "", 0);
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int c = ifc.accept(ud, fd, (struct sockaddr *)&peer, &plen);
	CHECK(c == 4, "accept = %d errno %d", c, errno);
	CHECK(plen == sizeof(peer) && ntohs(peer.sin_port) == PEER_PORT, "peer address");
	struct tcp_info ti;
	socklen_t tlen = sizeof(ti);
	CHECK(ifc.getsockopt(ud, c, IPPROTO_TCP, TCP_INFO, &ti, &tlen) == 0, "TCP_INFO");
	CHECK(ti.tcpi_state == 1 /* TCP_ESTABLISHED */, "state %d", ti.tcpi_state);
	printf("handshake ok\n");

	/* Data out, and its retransmission found by moving the virtual clock. */
	CHECK(ifc.write(ud, c, "hello", 5) == 5, "write");
	struct seen d = receive();
	CHECK(d.flags == 0x18 && d.payload == 5 && d.seq == synack.seq + 1, "data segment");
	struct seen r = receive();
	CHECK(r.seq == d.seq && r.payload == 5, "retransmission of the same bytes");
	CHECK(r.at - d.at >= 200000 && r.at - d.at <= 1000000, "after one RTO: %lld us", r.at - d.at);
	CHECK(now_usecs() == r.at, "the clock moved to the retransmission");
	inject(1001, d.seq + 5, 0x10, "", 0);
	printf("data and retransmission ok\n");

	/* usleep moves the virtual clock by exactly that much. */
	long long before = now_usecs();
	CHECK(ifc.usleep(ud, 2500000) == 0, "usleep");
	CHECK(now_usecs() - before == 2500000, "usleep is virtual");

	/* A blocking read on another thread returns when the main thread injects data. */
	struct reader rd = {.fd = c, .got = -2};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, blocking_read, &rd) == 0, "pthread_create");
	ifc.usleep(ud, 1000);
	inject(1001, d.seq + 5, 0x18, "world", 5);
	pthread_join(th, NULL);
	CHECK(rd.got == 5 && !memcmp(rd.buf, "world", 5), "blocking read got %zd", rd.got);
	printf("blocking read ok\n");

	/* Unsupported things fail loudly rather than pretending. */
	int v = 1;
	CHECK(ifc.setsockopt(ud, c, IPPROTO_TCP, TCP_CONGESTION, &v, sizeof(v)) == -1 &&
		      errno == ENOPROTOOPT,
	      "TCP_CONGESTION refused");
	CHECK(ifc.epoll_create(ud, 1) == -1 && errno == EOPNOTSUPP, "epoll refused");

	/* A blocking connect on another thread returns once the SYN,ACK is injected. The peer
	 * answers from PEER_PORT to synack's ephemeral port, so it is built by hand here. */
	struct connector con = {.fd = ifc.socket(ud, AF_INET, SOCK_STREAM, 0), .ret = -2};
	CHECK(con.fd == 5, "second socket = %d", con.fd);
	CHECK(pthread_create(&th, NULL, blocking_connect, &con) == 0, "pthread_create");
	struct seen syn;
	uint8_t raw[2048];
	for (;;) {
		size_t n = sizeof(raw);
		long long at;
		CHECK(ifc.netdev_receive(ud, raw, &n, &at) == 0, "netdev_receive");
		if (n > 0 && (raw[33] & 0x02)) {
			syn.seq = ntohl(*(uint32_t *)(raw + 24));
			break;
		}
	}
	uint16_t eport = raw[20] << 8 | raw[21];
	uint8_t b[64];
	size_t len = segment(b, 5000, syn.seq + 1, 0x12, "", 0);
	/* Swap in synack's ephemeral port as destination and fix the checksum. */
	b[22] = eport >> 8;
	b[23] = eport & 0xff;
	b[36] = b[37] = 0;
	uint8_t pseudo[12] = {0};
	memcpy(pseudo, PEER, 4);
	memcpy(pseudo + 4, US, 4);
	pseudo[9] = 6;
	pseudo[11] = 20;
	uint16_t sum = csum_fold(csum_add(csum_add(0, pseudo, 12), b + 20, 20));
	b[36] = sum >> 8;
	b[37] = sum & 0xff;
	CHECK(ifc.netdev_send(ud, b, len) == 0, "netdev_send SYN,ACK");
	pthread_join(th, NULL);
	CHECK(con.ret == 0, "blocking connect returned %d errno %d", con.ret, con.err);
	printf("blocking connect ok\n");

	/* close() sends the FIN. */
	CHECK(ifc.close(ud, c) == 0, "close");
	struct seen fin = receive();
	/* Pure ACKs queued before it leave first: of "world" (and a window update after the
	 * read) on the first connection, of the SYN,ACK on the second. */
	while (fin.flags == 0x10) {
		CHECK((fin.ack == 1006 || fin.ack == 5001) && fin.payload == 0,
		      "a pure ACK: ack %u payload %zu", fin.ack, fin.payload);
		fin = receive();
	}
	CHECK(fin.flags == 0x11 && fin.ack == 1006, "FIN,ACK flags %#x", fin.flags);
	CHECK(ifc.close(ud, c) == -1 && errno == EBADF, "closed fd is EBADF");
	ifc.free(ud);
	printf("all ok\n");
	return 0;
}
