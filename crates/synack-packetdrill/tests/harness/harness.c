/* Drives libsynack_packetdrill.so exactly as packetdrill's --so_filename mode does: dlopen
 * with packetdrill's flags, packetdrill_interface_init with the --so_flags string as given
 * (or NULL without one), then socket calls, netdev_send (inbound IP packets the harness
 * builds), netdev_receive (outbound packets it parses and checks) and the clock hooks; a
 * blocking call runs on a second thread, which the main thread waits to see asleep in
 * /proc before it goes on, as packetdrill's run_system_call.c does.
 *
 * Like packetdrill, the harness holds descriptors of its own from before the first script
 * (a kernel socket listening on an ephemeral port, as packets_new() in run_packet.c keeps
 * one to reserve ports), treats every number the library returns as a real descriptor —
 * the real getsockopt(TCP_INFO) a %{ }% line makes, the real close() of every one still
 * open when a script ends (state_free() -> close_all_fds() -> socket_close()), followed by
 * the RST packetdrill injects for each connection — and then checks its own descriptor
 * survived all of it.
 *
 * Usage: harness PATH_TO_SO. Exits 0 when every check passed; the first failed check prints
 * what it expected and exits 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pd_iface.h"

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10
#define URG 0x20

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
			fprintf(stderr, __VA_ARGS__);                                      \
			fputc('\n', stderr);                                               \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

static packetdrill_interface_init_t init;
static int checks;
#define OK(cond, ...)                                                                      \
	do {                                                                               \
		CHECK(cond, __VA_ARGS__);                                                  \
		checks++;                                                                  \
	} while (0)

/* ------------------------------------------------------------------ packets */

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	CHECK(inet_pton(AF_INET, s, &a) == 1, "bad address %s", s);
	return ntohl(a.s_addr);
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		acc += (uint32_t)(p[n - 1] << 8);
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* TCP checksum over the IPv4 pseudo-header (RFC 9293 §3.1). */
static uint16_t tcp_sum(const uint8_t *ip, const uint8_t *tcp, size_t tcp_len)
{
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, (uint16_t)tcp_len);
	return fold(sum16(tcp, tcp_len, sum16(pseudo, 12, 0)));
}

struct seg {
	const char *src, *dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	int mss; /* > 0: a SYN's options, <mss N,nop,wscale 7> as most packetdrill scripts send */
	const char *data;
};

/* An IPv4 + TCP datagram with correct checksums, as packetdrill injects. */
static size_t build(uint8_t *b, const struct seg *s)
{
	size_t optlen = s->mss > 0 ? 8 : 0;
	size_t dlen = s->data ? strlen(s->data) : 0;
	size_t tcp_len = 20 + optlen + dlen, total = 20 + tcp_len;
	memset(b, 0, total);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)total);
	b[8] = 64;
	b[9] = 6;
	put32(b + 12, ip4(s->src));
	put32(b + 16, ip4(s->dst));
	put16(b + 10, fold(sum16(b, 20, 0)));
	uint8_t *t = b + 20;
	put16(t, s->sport);
	put16(t + 2, s->dport);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)((20 + optlen) / 4) << 4;
	t[13] = s->flags;
	put16(t + 14, s->win);
	if (optlen) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, (uint16_t)s->mss);
		t[24] = 1;
		t[25] = 3;
		t[26] = 3;
		t[27] = 7;
	}
	if (dlen)
		memcpy(t + 20 + optlen, s->data, dlen);
	put16(t + 16, tcp_sum(b, t, tcp_len));
	return total;
}

struct pkt {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win, urg;
	uint8_t tos, ttl;
	size_t len;
	char data[2048];
	long long at;
};

/* Parses what the library sent and checks both checksums. */
static void parse(const uint8_t *b, size_t n, struct pkt *p)
{
	CHECK(n >= 40 && (b[0] >> 4) == 4 && b[9] == 6, "not IPv4/TCP (%zu bytes)", n);
	size_t ihl = (size_t)(b[0] & 15) * 4, total = get16(b + 2);
	CHECK(total == n, "IP length %zu but %zu bytes", total, n);
	CHECK(fold(sum16(b, ihl, 0)) == 0, "bad IP checksum");
	const uint8_t *t = b + ihl;
	size_t tcp_len = n - ihl, doff = (size_t)(t[12] >> 4) * 4;
	CHECK(tcp_sum(b, t, tcp_len) == 0, "bad TCP checksum");
	p->tos = b[1];
	p->ttl = b[8];
	p->src = get32(b + 12);
	p->dst = get32(b + 16);
	p->sport = get16(t);
	p->dport = get16(t + 2);
	p->seq = get32(t + 4);
	p->ack = get32(t + 8);
	p->flags = t[13];
	p->win = get16(t + 14);
	p->urg = get16(t + 18);
	p->len = tcp_len - doff;
	CHECK(p->len < sizeof p->data, "payload too long");
	memcpy(p->data, t + doff, p->len);
	p->data[p->len] = 0;
}

/* ------------------------------------------------------------------ the run */

static struct packetdrill_interface ifc;
#define UD ifc.userdata

static long long now_us(void)
{
	struct timeval tv;
	CHECK(ifc.gettimeofday(UD, &tv, NULL) == 0, "gettimeofday failed");
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void inject(const struct seg *s)
{
	uint8_t b[2048];
	size_t n = build(b, s);
	CHECK(ifc.netdev_send(UD, b, n) == 0, "netdev_send: errno %d", errno);
}

/* packetdrill's so_netdev_receive: ask until the library returns 0. */
static void receive(struct pkt *p)
{
	uint8_t b[65536];
	size_t n = 0;
	int r = -1;
	for (int tries = 0; r != 0 && tries < 100000; tries++) {
		n = sizeof b;
		r = ifc.netdev_receive(UD, b, &n, &p->at);
	}
	CHECK(r == 0 && n > 0, "netdev_receive: r=%d count=%zu errno=%d", r, n, errno);
	parse(b, n, p);
}

static void load(const char *so, const char *flags)
{
	memset(&ifc, 0xA5, sizeof ifc); /* packetdrill callocs; garbage proves every slot is set */
	init(flags, &ifc);
	void **slot = (void **)&ifc.free;
	size_t slots = (sizeof ifc - sizeof ifc.userdata) / sizeof(void *);
	for (size_t i = 0; i < slots; i++)
		OK(slot[i] != NULL && slot[i] != (void *)(uintptr_t)0xA5A5A5A5A5A5A5A5ull,
		   "%s: hook %zu not set", so, i);
}

/* ------------------------------------------------------------------ descriptors */

/* packetdrill's own: a kernel TCP socket listening on an ephemeral loopback port. */
static int own_fd = -1;

static void open_own_descriptors(void)
{
	own_fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(own_fd >= 0, "socket: errno %d", errno);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(own_fd, (struct sockaddr *)&a, sizeof a) == 0, "bind: errno %d", errno);
	CHECK(listen(own_fd, 1) == 0, "listen: errno %d", errno);
}

/* The harness's own socket is still open and still listening. */
static void own_descriptors_intact(const char *when)
{
	int v = 0;
	socklen_t l = sizeof v;
	OK(getsockopt(own_fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 1,
	   "%s: packetdrill's own listening socket (fd %d) was closed or changed: errno %d",
	   when, own_fd, errno);
}

/* A number the library handed out is a real descriptor of its own: not one of the
 * harness's, and not a socket, so packetdrill's real getsockopt(TCP_INFO) for a %{ }% line
 * fails plainly instead of reading some other socket's state. */
static int fresh(int fd, const char *what)
{
	OK(fd >= 0 && fd != own_fd, "%s: fd %d (packetdrill holds %d), errno %d", what, fd,
	   own_fd, errno);
	struct stat st;
	OK(fstat(fd, &st) == 0 && !S_ISSOCK(st.st_mode), "%s: fd %d is not a real descriptor "
	   "of the library's, or is a socket", what, fd);
	struct tcp_info ti;
	socklen_t l = sizeof ti;
	OK(getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l) == -1 && errno == ENOTSOCK,
	   "%s: the real getsockopt(TCP_INFO) on fd %d: errno %d", what, fd, errno);
	return fd;
}

/* The end of a script as packetdrill's state_free() runs it: the real close() of each
 * descriptor the script still holds (a failure is fatal in packetdrill), an RST injected
 * per connection (`rst`, may be NULL), then the library is freed. */
static void teardown(const int *held, int n, const struct seg *rst)
{
	for (int i = 0; i < n; i++)
		OK(close(held[i]) == 0, "real close(%d) at the end: errno %d", held[i], errno);
	if (rst)
		inject(rst);
	ifc.free(UD);
	own_descriptors_intact("after teardown");
}

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(ip4(ip));
	return a;
}

/* ------------------------------------------------------------------ a blocking call on a thread */

enum op { OP_ACCEPT, OP_READ, OP_CONNECT, OP_POLL, OP_EPOLL, OP_WAITALL };
struct call {
	enum op op;
	int fd;
	int result, err;
	struct epoll_event ev;
	long long end; /* the clock right after the call, read as packetdrill's end_syscall does */
	int delay_ms;  /* real time spent between the return and reading the clock */
	char buf[64];
	struct sockaddr_in peer;
	volatile pid_t tid;
	volatile int done;
	pthread_t thread;
};

static void *run_call(void *arg)
{
	struct call *c = arg;
	c->tid = (pid_t)syscall(SYS_gettid);
	__sync_synchronize();
	errno = 0;
	socklen_t len = sizeof c->peer;
	struct sockaddr_in to = sin4("192.0.2.1", 8080);
	switch (c->op) {
	case OP_ACCEPT:
		c->result = ifc.accept(UD, c->fd, (struct sockaddr *)&c->peer, &len);
		break;
	case OP_READ:
		c->result = (int)ifc.read(UD, c->fd, c->buf, sizeof c->buf - 1);
		break;
	case OP_CONNECT:
		c->result = ifc.connect(UD, c->fd, (struct sockaddr *)&to, sizeof to);
		break;
	case OP_POLL: {
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};
		c->result = ifc.poll(UD, &pf, 1, 100);
		break;
	}
	case OP_EPOLL:
		c->result = ifc.epoll_wait(UD, c->fd, &c->ev, 1, -1);
		break;
	case OP_WAITALL:
		c->result = (int)ifc.recv(UD, c->fd, c->buf, 8, MSG_WAITALL);
		break;
	}
	c->err = errno;
	if (c->delay_ms) {
		/* Widens the window in which the main thread could run the clock ahead of a
		 * returned call (packetdrill does some work there too); stays well inside the
		 * library's 1 s grace. */
		struct timespec d = {0, c->delay_ms * 1000000L};
		nanosleep(&d, NULL);
	}
	c->end = now_us();
	__sync_synchronize();
	c->done = 1;
	return NULL;
}

static int thread_sleeping(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *close_paren = strrchr(buf, ')');
	return close_paren && close_paren[1] == ' ' && close_paren[2] == 'S';
}

/* Starts a call on a thread and returns once that thread sleeps inside the library, as
 * packetdrill's enqueue_system_call waits for its syscall thread. */
static void start_blocking(struct call *c)
{
	c->done = 0;
	c->tid = 0;
	CHECK(pthread_create(&c->thread, NULL, run_call, c) == 0, "pthread_create");
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		__sync_synchronize();
		if (c->done || (c->tid && thread_sleeping(c->tid)))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		CHECK(now.tv_sec - start.tv_sec < 10, "thread neither blocked nor returned");
		sched_yield();
	}
	OK(!c->done, "call returned at once (result %d errno %d) instead of blocking", c->result,
	   c->err);
}

static void finish_blocking(struct call *c)
{
	CHECK(pthread_join(c->thread, NULL) == 0, "pthread_join");
	OK(c->done, "call did not finish");
}

/* ------------------------------------------------------------------ scenarios */

static const char *L = "192.168.0.1", *R = "192.0.2.1";

/* Passive open, data both ways, a retransmission driven by usleep, a blocking accept and a
 * blocking read woken by injected packets, misuse errnos, and the close. */
static void passive(const char *so)
{
	load(so, "secret=7,local=192.168.0.1,idle_ms=50");
	int one = 1, v = 0;
	socklen_t vlen;
	char buf[128];

	/* The clock: each gettimeofday moves it a tick, usleep by what it is asked. */
	long long t1 = now_us(), t2 = now_us();
	OK(t2 == t1 + 1, "gettimeofday ticks by 1us: %lld then %lld", t1, t2);
	OK(ifc.usleep(UD, 5000) == 0, "usleep");
	long long t3 = now_us();
	OK(t3 == t2 + 5000 + 1, "usleep(5000) moved the clock to %lld (from %lld)", t3, t2);

	int ls = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM, 0), "socket");
	OK(ifc.setsockopt(UD, ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "setsockopt");
	vlen = sizeof v;
	OK(ifc.getsockopt(UD, ls, SOL_SOCKET, SO_REUSEADDR, &v, &vlen) == 0 && v == 1 &&
	       vlen == 4,
	   "getsockopt SO_REUSEADDR: v=%d len=%u", v, vlen);
	vlen = 2;
	OK(ifc.getsockopt(UD, ls, SOL_SOCKET, SO_REUSEADDR, &v, &vlen) == -1 && errno == EINVAL,
	   "short optlen: errno %d", errno);
	OK(ifc.setsockopt(UD, ls, IPPROTO_TCP, TCP_NODELAY, NULL, 4) == -1 && errno == EFAULT,
	   "NULL optval: errno %d", errno);
	/* An option synack has no counterpart for is EOPNOTSUPP whatever its length; one Linux
	 * does not have, ENOPROTOOPT. */
	uint8_t pmtu = 0;
	OK(ifc.setsockopt(UD, ls, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, 1) == -1 &&
	       errno == EOPNOTSUPP,
	   "1-byte IP_MTU_DISCOVER: errno %d", errno);
	OK(ifc.setsockopt(UD, ls, 12345, 1, &one, sizeof one) == -1 && errno == ENOPROTOOPT,
	   "unknown level: errno %d", errno);
	OK(ifc.setsockopt(UD, ls, IPPROTO_TCP, 999, &one, 2) == -1 && errno == ENOPROTOOPT,
	   "unknown TCP option: errno %d", errno);
	/* packetdrill's own descriptor is not the library's. */
	OK(ifc.setsockopt(UD, own_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 &&
	       errno == EBADF,
	   "setsockopt on packetdrill's fd: errno %d", errno);
	struct sockaddr_in me = sin4(L, 8080);
	OK(ifc.bind(UD, own_fd, (struct sockaddr *)&me, sizeof me) == -1 && errno == EBADF,
	   "bind on packetdrill's fd: errno %d", errno);
	OK(ifc.bind(UD, ls, (struct sockaddr *)&me, 8) == -1 && errno == EINVAL,
	   "short sockaddr: errno %d", errno);
	OK(ifc.bind(UD, ls, (struct sockaddr *)&me, sizeof me) == 0, "bind: errno %d", errno);
	OK(ifc.listen(UD, ls, 2) == 0, "listen");
	OK(ifc.accept(UD, own_fd, NULL, NULL) == -1 && errno == EBADF, "accept on no fd: %d",
	   errno);
	OK(ifc.close(UD, own_fd) == -1 && errno == EBADF, "close of packetdrill's fd: %d", errno);
	own_descriptors_intact("after the library was asked to close it");

	/* SYN in, SYN-ACK out, stamped with the time it left. */
	long long t_syn = now_us();
	inject(&(struct seg){R, L, 40000, 8080, 1000, 0, SYN, 65535, 1460, NULL});
	struct pkt p;
	receive(&p);
	OK(p.flags == (SYN | ACK), "SYN-ACK flags %#x", p.flags);
	OK(p.ack == 1001, "SYN-ACK acks ISN+1: ack %u", p.ack);
	OK(p.src == ip4(L) && p.sport == 8080 && p.dst == ip4(R) && p.dport == 40000,
	   "SYN-ACK addresses");
	OK(p.at == t_syn, "SYN-ACK sent at %lld, injected at %lld", p.at, t_syn);
	uint32_t iss = p.seq;

	inject(&(struct seg){R, L, 40000, 8080, 1001, iss + 1, ACK, 65535, 0, NULL});
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	int a1 = fresh(ifc.accept(UD, ls, (struct sockaddr *)&peer, &plen), "accept");
	OK(plen == sizeof peer && peer.sin_family == AF_INET && ntohs(peer.sin_port) == 40000 &&
	       ntohl(peer.sin_addr.s_addr) == ip4(R),
	   "accept's peer address");

	/* Data out... */
	OK(ifc.write(UD, a1, "hello", 5) == 5, "write");
	receive(&p);
	OK((p.flags & ACK) && !(p.flags & (SYN | FIN | RST)), "data flags %#x", p.flags);
	OK(p.seq == iss + 1 && p.ack == 1001 && p.len == 5 && !memcmp(p.data, "hello", 5),
	   "data segment: seq +%u ack %u len %zu", p.seq - iss, p.ack, p.len);

	/* ...and in, acknowledging ours. */
	inject(&(struct seg){R, L, 40000, 8080, 1001, iss + 6, PSH | ACK, 65535, 0, "world!"});
	OK(ifc.ioctl(UD, a1, FIONREAD, &v) == 0 && v == 6, "FIONREAD says %d", v);
	OK(ifc.read(UD, a1, buf, sizeof buf) == 6 && !memcmp(buf, "world!", 6), "read");
	receive(&p);
	OK(p.flags == ACK && p.ack == 1007 && p.seq == iss + 6 && p.len == 0,
	   "ACK of our data: flags %#x ack %u", p.flags, p.ack);

	/* A segment nobody acknowledges: retransmitted at the RTO (200 ms, the floor, after
	 * microsecond RTT samples), then after 400 ms more (backoff). */
	OK(ifc.write(UD, a1, "abc", 3) == 3, "write");
	receive(&p);
	long long t_sent = p.at;
	OK(p.seq == iss + 6 && p.len == 3, "first transmission: flags %#x seq +%u len %zu ack %u win %u at %lld", p.flags, p.seq - iss, p.len, p.ack, p.win, p.at);
	OK(ifc.usleep(UD, 150000) == 0, "usleep");
	long long t_a = now_us();
	OK(ifc.usleep(UD, 100000) == 0, "usleep");
	long long t_b = now_us();
	receive(&p);
	long long t_c = now_us();
	OK(p.seq == iss + 6 && p.len == 3 && !memcmp(p.data, "abc", 3), "retransmission");
	OK(p.at == t_sent + 200000, "retransmitted at +%lld us, want +200000", p.at - t_sent);
	OK(p.at > t_a, "retransmission existed before the clock reached the RTO");
	OK(t_c == t_b + 1, "netdev_receive moved the clock (%lld -> %lld) though a packet waited",
	   t_b, t_c);
	receive(&p); /* nothing queued: the clock runs to the next timer */
	OK(p.seq == iss + 6 && p.len == 3 && p.at == t_sent + 600000,
	   "second retransmission at +%lld us, want +600000", p.at - t_sent);
	OK(now_us() > t_sent + 600000, "clock behind the packet it sent");
	inject(&(struct seg){R, L, 40000, 8080, 1007, iss + 9, ACK, 65535, 0, NULL});

	/* A blocking accept on the syscall thread, woken by a handshake. */
	struct call c = {.op = OP_ACCEPT, .fd = ls, .delay_ms = 5};
	start_blocking(&c);
	inject(&(struct seg){R, L, 40001, 8080, 5000, 0, SYN, 65535, 1460, NULL});
	receive(&p);
	OK(p.flags == (SYN | ACK) && p.ack == 5001 && p.dport == 40001, "second SYN-ACK");
	OK(!c.done, "accept returned before the handshake completed");
	long long t_ack = now_us();
	inject(&(struct seg){R, L, 40001, 8080, 5001, p.seq + 1, ACK, 65535, 0, NULL});
	/* packetdrill's main thread goes straight on to its next event, sleeping towards it;
	 * the clock must not run ahead of the accept's return. */
	OK(ifc.usleep(UD, 500000) == 0, "usleep");
	finish_blocking(&c);
	int a2 = fresh(c.result, "blocking accept");
	OK(a2 != a1 && a2 != ls && ntohs(c.peer.sin_port) == 40001, "blocking accept: %d errno %d",
	   c.result, c.err);
	OK(c.end == t_ack + 1, "accept returned at +%lld us after the ACK, want +1 (one tick)",
	   c.end - t_ack);
	uint32_t iss2 = p.seq;

	/* A blocking read woken by data. */
	struct call r = {.op = OP_READ, .fd = a2};
	start_blocking(&r);
	inject(&(struct seg){R, L, 40001, 8080, 5001, iss2 + 1, PSH | ACK, 65535, 0, "ping"});
	finish_blocking(&r);
	OK(r.result == 4 && !memcmp(r.buf, "ping", 4), "blocking read: %d errno %d", r.result,
	   r.err);
	receive(&p);
	OK(p.flags == ACK && p.ack == 5005 && p.dport == 40001, "ACK of ping: ack %u", p.ack);

	/* A blocking poll on the syscall thread times out at its own deadline while the main
	 * thread sleeps far past it. */
	struct call pc = {.op = OP_POLL, .fd = a2};
	long long t_poll = now_us();
	start_blocking(&pc);
	OK(ifc.usleep(UD, 1000000) == 0, "usleep");
	finish_blocking(&pc);
	OK(pc.result == 0, "poll timeout: %d errno %d", pc.result, pc.err);
	OK(pc.end == t_poll + 100000 + 1, "poll(100 ms) returned at +%lld us", pc.end - t_poll);

	/* fcntl through the variadic slot, with two and with three arguments. */
	OK(ifc.fcntl(UD, a1, F_GETFL) == O_RDWR, "F_GETFL");
	OK(ifc.fcntl(UD, a1, F_SETFL, O_RDWR | O_NONBLOCK) == 0, "F_SETFL");
	OK(ifc.fcntl(UD, a1, F_GETFL) == (O_RDWR | O_NONBLOCK), "F_GETFL after F_SETFL");
	OK(ifc.read(UD, a1, buf, sizeof buf) == -1 && errno == EAGAIN, "empty read: errno %d",
	   errno);
	OK(ifc.recv(UD, a1, buf, sizeof buf, MSG_PEEK) == -1 && errno == EAGAIN,
	   "MSG_PEEK with nothing queued: errno %d", errno);
	OK(ifc.recv(UD, a1, buf, sizeof buf, MSG_OOB) == -1 && errno == EINVAL,
	   "MSG_OOB with no urgent data: errno %d", errno);
	int mark = -1;
	OK(ifc.ioctl(UD, a1, SIOCATMARK, &mark) == 0 && mark == 0, "SIOCATMARK: %d errno %d", mark,
	   errno);
	OK(ifc.read(UD, a1, NULL, 10) == -1 && errno == EFAULT, "NULL buffer: errno %d", errno);
	int fds[2];
	OK(ifc.pipe(UD, fds) == -1 && errno == EOPNOTSUPP, "pipe: errno %d", errno);

	/* poll: ready now, not ready with no timeout, and a timeout on the main thread that
	 * runs the virtual clock instead of hanging. */
	struct pollfd pf = {.fd = a1, .events = POLLOUT};
	OK(ifc.poll(UD, &pf, 1, 0) == 1 && pf.revents == POLLOUT, "POLLOUT: %#x", pf.revents);
	struct pollfd theirs = {.fd = own_fd, .events = POLLIN};
	OK(ifc.poll(UD, &theirs, 1, 0) == 1 && theirs.revents == POLLNVAL,
	   "poll of packetdrill's fd: %#x", theirs.revents);
	pf = (struct pollfd){.fd = a1, .events = POLLIN};
	OK(ifc.poll(UD, &pf, 1, 0) == 0 && pf.revents == 0, "POLLIN with nothing to read");
	long long before = now_us();
	OK(ifc.poll(UD, &pf, 1, 100) == 0, "poll timeout");
	long long after = now_us();
	OK(after - before >= 100000 && after - before < 100010,
	   "poll(100 ms) took %lld us of virtual time", after - before);

	/* Close: FIN out, FIN in, our last ACK out. */
	OK(ifc.close(UD, a1) == 0, "close");
	receive(&p);
	OK(p.flags == (FIN | ACK) && p.seq == iss + 9 && p.ack == 1007, "FIN: flags %#x seq +%u",
	   p.flags, p.seq - iss);
	inject(&(struct seg){R, L, 40000, 8080, 1007, iss + 10, FIN | ACK, 65535, 0, NULL});
	receive(&p);
	OK(p.flags == ACK && p.seq == iss + 10 && p.ack == 1008, "last ACK: flags %#x ack %u",
	   p.flags, p.ack);
	OK(ifc.close(UD, a1) == -1 && errno == EBADF, "second close: errno %d", errno);
	/* The script ends holding the listener and the second connection. */
	int held[] = {ls, a2};
	teardown(held, 2,
		 &(struct seg){R, L, 40001, 8080, 5005, iss2 + 1, RST | ACK, 65535, 0, NULL});
}

/* Active opens from a library with no local address configured: a non-blocking connect, a
 * blocking one on the syscall thread, and a blocking one on the main thread that times out
 * through every SYN retransmission in virtual time. */
static void active(const char *so)
{
	/* Sysctl knobs under their own names, as a script's shell lines would set them. */
	load(so, "secret=7,idle_ms=50,tcp_syn_retries=3,tcp_rmem=4096:8192:65536");
	struct sockaddr_in to = sin4(R, 8080);
	struct pkt p;
	int v;
	socklen_t vlen = sizeof v;

	int c1 = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), "socket");
	OK(ifc.connect(UD, c1, (struct sockaddr *)&to, sizeof to) == -1 && errno == EINPROGRESS,
	   "non-blocking connect: errno %d", errno);
	uint8_t small[10];
	size_t n = sizeof small;
	long long at;
	OK(ifc.netdev_receive(UD, small, &n, &at) == -1 && errno == EINVAL,
	   "short receive buffer: errno %d", errno);
	receive(&p);
	OK(p.flags == SYN && p.dst == ip4(R) && p.dport == 8080 && p.src == ip4(L),
	   "SYN: flags %#x", p.flags);
	OK(p.win == 8192, "tcp_rmem's default sets the SYN's window: %u", p.win);
	inject(&(struct seg){R, L, 8080, p.sport, 9000, p.seq + 1, SYN | ACK, 65535, 1460, NULL});
	receive(&p);
	OK(p.flags == ACK && p.ack == 9001, "handshake ACK: flags %#x ack %u", p.flags, p.ack);
	OK(ifc.connect(UD, c1, (struct sockaddr *)&to, sizeof to) == -1 && errno == EISCONN,
	   "connect again: errno %d", errno);
	OK(ifc.getsockopt(UD, c1, SOL_SOCKET, SO_ERROR, &v, &vlen) == 0 && v == 0, "SO_ERROR");

	int c2 = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM, 0), "socket");
	struct call c = {.op = OP_CONNECT, .fd = c2};
	start_blocking(&c);
	receive(&p);
	OK(p.flags == SYN, "SYN of the blocking connect");
	inject(&(struct seg){R, L, 8080, p.sport, 7000, p.seq + 1, SYN | ACK, 65535, 1460, NULL});
	finish_blocking(&c);
	OK(c.result == 0, "blocking connect: %d errno %d", c.result, c.err);
	receive(&p);
	OK(p.flags == ACK && p.ack == 7001, "ACK of the blocking connect");

	/* Nobody answers: 1 + 3 SYNs (tcp_syn_retries=3), 1 s initial RTO doubling, then
	 * ETIMEDOUT. */
	int c3 = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM, 0), "socket");
	long long start = now_us();
	OK(ifc.connect(UD, c3, (struct sockaddr *)&to, sizeof to) == -1 && errno == ETIMEDOUT,
	   "unanswered connect: errno %d", errno);
	long long gap[] = {0, 1, 3, 7};
	uint16_t sport = 0;
	for (int i = 0; i < 4; i++) {
		receive(&p);
		if (i == 0)
			sport = p.sport;
		OK(p.flags == SYN && p.sport == sport, "SYN %d", i);
		OK(p.at - start >= gap[i] * 1000000 && p.at - start < gap[i] * 1000000 + 100,
		   "SYN %d at +%lld us", i, p.at - start);
	}
	OK(now_us() - start >= 15000000, "connect returned before its last SYN timed out");
	int held[] = {c1, c2, c3};
	teardown(held, 3, NULL);
}

/* What the library answers beyond the basic calls: IP_TOS/IP_TTL on the packets, Linux's
 * struct tcp_info, epoll (blocking on the syscall thread; no instance inside another) and
 * the recv flags MSG_PEEK, MSG_TRUNC and MSG_WAITALL. */
static void more_calls(const char *so)
{
	load(so, "secret=7,local=192.168.0.1,idle_ms=50");
	int one = 1, v = 0;
	socklen_t vlen;
	char buf[128];
	struct pkt p;

	int ls = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM, 0), "socket");
	OK(ifc.setsockopt(UD, ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "setsockopt");
	/* The ECN bits of the TOS byte are TCP's (RFC 3168 §5): 0x23 is kept as 0x20. */
	v = 0x23;
	OK(ifc.setsockopt(UD, ls, IPPROTO_IP, IP_TOS, &v, sizeof v) == 0, "IP_TOS: %d", errno);
	vlen = sizeof v;
	OK(ifc.getsockopt(UD, ls, IPPROTO_IP, IP_TOS, &v, &vlen) == 0 && v == 0x20 && vlen == 4,
	   "IP_TOS reads %#x", v);
	v = 7;
	OK(ifc.setsockopt(UD, ls, IPPROTO_IP, IP_TTL, &v, sizeof v) == 0, "IP_TTL: %d", errno);
	v = 256;
	OK(ifc.setsockopt(UD, ls, IPPROTO_IP, IP_TTL, &v, sizeof v) == -1 && errno == EINVAL,
	   "IP_TTL 256: errno %d", errno);
	OK(ifc.setsockopt(UD, ls, IPPROTO_IPV6, IPV6_TCLASS, &one, sizeof one) == -1 &&
	       errno == ENOPROTOOPT,
	   "IPV6_TCLASS on an IPv4 socket: errno %d", errno);

	/* TCP_INFO of a listener; as much of the struct as the caller has room for. */
	struct tcp_info ti;
	memset(&ti, 0xff, sizeof ti);
	vlen = sizeof ti;
	OK(ifc.getsockopt(UD, ls, IPPROTO_TCP, TCP_INFO, &ti, &vlen) == 0 && vlen == sizeof ti &&
	       ti.tcpi_state == 7 && ti.tcpi_rto == 0,
	   "TCP_INFO of an unbound socket: state %u len %u", ti.tcpi_state, vlen);
	OK(ifc.setsockopt(UD, ls, IPPROTO_TCP, TCP_INFO, &ti, sizeof ti) == -1 &&
	       errno == ENOPROTOOPT,
	   "setsockopt(TCP_INFO): errno %d", errno);
	struct sockaddr_in me = sin4(L, 8080);
	OK(ifc.bind(UD, ls, (struct sockaddr *)&me, sizeof me) == 0, "bind: errno %d", errno);
	OK(ifc.listen(UD, ls, 2) == 0, "listen");
	uint8_t state = 0;
	vlen = 1;
	OK(ifc.getsockopt(UD, ls, IPPROTO_TCP, TCP_INFO, &state, &vlen) == 0 && vlen == 1 &&
	       state == 10,
	   "one byte of TCP_INFO: state %u len %u", state, vlen);

	/* epoll: a listener is ready once a connection is queued. */
	OK(ifc.epoll_create(UD, 0) == -1 && errno == EINVAL, "epoll_create(0): errno %d", errno);
	int ep = fresh(ifc.epoll_create(UD, 1), "epoll_create");
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77}, out[4];
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, ls, &ev) == 0, "EPOLL_CTL_ADD: errno %d", errno);
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, ls, &ev) == -1 && errno == EEXIST,
	   "added twice: errno %d", errno);
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, ep, &ev) == -1 && errno == EINVAL,
	   "an epoll instance in itself: errno %d", errno);
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, own_fd, &ev) == -1 && errno == EBADF,
	   "packetdrill's own fd: errno %d", errno);
	OK(ifc.epoll_ctl(UD, ls, EPOLL_CTL_ADD, ls, &ev) == -1 && errno == EINVAL,
	   "a socket as the epoll instance: errno %d", errno);
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, ls, NULL) == -1 && errno == EFAULT,
	   "no event: errno %d", errno);
	OK(ifc.epoll_wait(UD, ep, out, 4, 0) == 0, "nothing ready: errno %d", errno);
	struct pollfd idle = {.fd = ep, .events = POLLIN};
	OK(ifc.poll(UD, &idle, 1, 0) == 0 && idle.revents == 0, "poll of an idle epoll instance");
	OK(ifc.epoll_wait(UD, ep, out, 0, 0) == -1 && errno == EINVAL, "maxevents 0: %d", errno);
	OK(ifc.read(UD, ep, buf, 1) == -1 && errno == ENOTSOCK, "read of an epoll fd: %d", errno);

	inject(&(struct seg){R, L, 40000, 8080, 1000, 0, SYN, 65535, 1460, NULL});
	receive(&p);
	OK(p.flags == (SYN | ACK) && p.tos == 0x20 && p.ttl == 7,
	   "the listener's TOS and TTL mark its SYN-ACK: tos %#x ttl %u", p.tos, p.ttl);
	uint32_t iss = p.seq;
	inject(&(struct seg){R, L, 40000, 8080, 1001, iss + 1, ACK, 65535, 0, NULL});
	struct pollfd epf = {.fd = ep, .events = POLLIN};
	OK(ifc.poll(UD, &epf, 1, 0) == 1 && epf.revents == POLLIN,
	   "poll of a ready epoll instance: %#x", epf.revents);
	OK(ifc.epoll_wait(UD, ep, out, 4, 0) == 1 && out[0].events == EPOLLIN &&
	       out[0].data.u64 == 77,
	   "listener ready: events %#x data %llu", out[0].events,
	   (unsigned long long)out[0].data.u64);
	int a1 = fresh(ifc.accept(UD, ls, NULL, NULL), "accept");
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_DEL, ls, NULL) == 0, "EPOLL_CTL_DEL: errno %d", errno);
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_MOD, ls, &ev) == -1 && errno == ENOENT,
	   "MOD of one not added: errno %d", errno);
	int inner = fresh(ifc.epoll_create(UD, 1), "epoll_create");
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, inner, &ev) == -1 && errno == EOPNOTSUPP,
	   "an epoll instance inside another: errno %d", errno);
	OK(ifc.close(UD, inner) == 0, "close of the inner epoll instance");

	/* TCP_INFO of the connection, at Linux's offsets. */
	vlen = sizeof ti;
	OK(ifc.getsockopt(UD, a1, IPPROTO_TCP, TCP_INFO, &ti, &vlen) == 0 && vlen == sizeof ti,
	   "TCP_INFO: errno %d len %u", errno, vlen);
	OK(ti.tcpi_state == 1 && ti.tcpi_snd_mss == 1460 && ti.tcpi_options == 4 &&
	       ti.tcpi_snd_wscale == 7 && ti.tcpi_rcv_wscale > 0 && ti.tcpi_rto >= 200000 &&
	       ti.tcpi_snd_cwnd == 10 && ti.tcpi_snd_ssthresh == 0x7fffffff,
	   "TCP_INFO: state %u mss %u options %#x wscale %u/%u rto %u cwnd %u ssthresh %#x",
	   ti.tcpi_state, ti.tcpi_snd_mss, ti.tcpi_options, ti.tcpi_snd_wscale,
	   ti.tcpi_rcv_wscale, ti.tcpi_rto, ti.tcpi_snd_cwnd, ti.tcpi_snd_ssthresh);

	/* A blocking epoll_wait on the syscall thread, woken by data. */
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 44};
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, a1, &ev) == 0, "ADD: errno %d", errno);
	struct call c = {.op = OP_EPOLL, .fd = ep};
	start_blocking(&c);
	inject(&(struct seg){R, L, 40000, 8080, 1001, iss + 1, PSH | ACK, 65535, 0, "0123456789"});
	finish_blocking(&c);
	OK(c.result == 1 && c.ev.events == EPOLLIN && c.ev.data.u64 == 44,
	   "blocking epoll_wait: %d events %#x errno %d", c.result, c.ev.events, c.err);
	OK(ifc.epoll_wait(UD, ep, out, 4, 0) == 0, "EPOLLONESHOT reports once");
	receive(&p);
	OK(p.flags == ACK && p.ack == 1011, "ACK of the data: ack %u", p.ack);

	/* MSG_PEEK copies the bytes and leaves them queued; MSG_TRUNC takes them without
	 * copying. */
	memset(buf, 'x', sizeof buf);
	OK(ifc.recv(UD, a1, buf, sizeof buf, MSG_PEEK) == 10 && !memcmp(buf, "0123456789", 10),
	   "MSG_PEEK: errno %d", errno);
	memset(buf, 'x', sizeof buf);
	OK(ifc.recv(UD, a1, buf, 4, MSG_PEEK | MSG_DONTWAIT) == 4 && !memcmp(buf, "0123x", 5),
	   "short MSG_PEEK");
	OK(ifc.ioctl(UD, a1, FIONREAD, &v) == 0 && v == 10, "still queued: %d", v);
	memset(buf, 'x', sizeof buf);
	OK(ifc.recv(UD, a1, buf, 3, MSG_TRUNC) == 3 && buf[0] == 'x', "MSG_TRUNC");
	OK(ifc.read(UD, a1, buf, sizeof buf) == 7 && !memcmp(buf, "3456789", 7), "the rest");

	/* MSG_WAITALL waits across segments for the whole length. */
	struct call w = {.op = OP_WAITALL, .fd = a1};
	start_blocking(&w);
	inject(&(struct seg){R, L, 40000, 8080, 1011, iss + 1, PSH | ACK, 65535, 0, "abcd"});
	receive(&p);
	OK(!w.done, "MSG_WAITALL returned with half its length");
	inject(&(struct seg){R, L, 40000, 8080, 1015, iss + 1, PSH | ACK, 65535, 0, "efgh"});
	finish_blocking(&w);
	OK(w.result == 8 && !memcmp(w.buf, "abcdefgh", 8), "MSG_WAITALL: %d errno %d", w.result,
	   w.err);
	receive(&p);
	OK(p.flags == ACK && p.ack == 1019, "ACK: ack %u", p.ack);
	/* Urgent data: the pointer names the octet after the urgent byte (RFC 6093). */
	OK(ifc.send(UD, a1, "x", 1, MSG_OOB) == 1, "send MSG_OOB: errno %d", errno);
	receive(&p);
	OK(p.flags == (URG | PSH | ACK) && p.seq == iss + 1 && p.urg == 1 && p.len == 1,
	   "urgent segment: flags %#x seq %u urg %u", p.flags, p.seq, p.urg);
	inject(&(struct seg){R, L, 40000, 8080, 1019, iss + 2, ACK, 65535, 0, NULL});

	/* A closed socket leaves the epoll set; a closed epoll instance is gone. */
	int a2 = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM, 0), "socket");
	ev = (struct epoll_event){.events = EPOLLOUT, .data.u64 = 9};
	OK(ifc.epoll_ctl(UD, ep, EPOLL_CTL_ADD, a2, &ev) == 0, "ADD: errno %d", errno);
	OK(ifc.epoll_wait(UD, ep, out, 4, 0) == 1 && out[0].data.u64 == 9, "unopened: writable");
	OK(ifc.close(UD, a2) == 0, "close");
	OK(ifc.epoll_wait(UD, ep, out, 4, 0) == 0, "a closed socket still reported");
	OK(ifc.close(UD, ep) == 0, "close of the epoll instance");
	OK(ifc.epoll_wait(UD, ep, out, 4, 0) == -1 && errno == EBADF, "closed: errno %d", errno);
	int held[] = {ls, a1};
	teardown(held, 2, &(struct seg){R, L, 40000, 8080, 1019, iss + 1, RST | ACK, 65535, 0, NULL});
}

/* What a library that can never send reports, and misuse that must not crash. */
static void edges(const char *so)
{
	load(so, "idle_ms=30");
	uint8_t b[2048];
	size_t n = sizeof b;
	long long at = -1;
	struct timespec s, e;
	clock_gettime(CLOCK_MONOTONIC, &s);
	OK(ifc.netdev_receive(UD, b, &n, &at) == 0 && n == 0, "idle receive: count %zu", n);
	clock_gettime(CLOCK_MONOTONIC, &e);
	long long waited = (e.tv_sec - s.tv_sec) * 1000000000LL + (e.tv_nsec - s.tv_nsec);
	OK(waited >= 30000000LL, "gave up after %lld ns, before idle_ms", waited);
	OK(ifc.netdev_send(UD, NULL, 40) == -1 && errno == EFAULT, "NULL packet: %d", errno);
	memset(b, 0x45, 3);
	OK(ifc.netdev_send(UD, b, 3) == 0, "a runt packet is dropped, not fatal");
	OK(ifc.socket(NULL, AF_INET, SOCK_STREAM, 0) == -1 && errno == EFAULT, "NULL userdata");
	OK(ifc.gettimeofday(UD, NULL, NULL) == -1 && errno == EFAULT, "NULL timeval");
	int fd = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM, 0), "socket");
	OK(ifc.connect(UD, fd, NULL, 16) == -1 && errno == EFAULT, "NULL address");
	OK(ifc.ioctl(UD, fd, FIONREAD, NULL) == -1 && errno == EFAULT, "NULL ioctl arg");
	teardown(&fd, 1, NULL);

	load(so, "bogus=1");
	OK(ifc.socket(UD, AF_INET, SOCK_STREAM, 0) == -1 && errno == EINVAL, "bad flags");
	n = sizeof b;
	OK(ifc.netdev_receive(UD, b, &n, &at) == 0 && n == 0, "bad flags: receive ends");
	ifc.free(UD);

	/* An unknown sysctl knob is refused too. */
	load(so, "tcp_syn_retries=3,tcp_no_such_knob=1");
	OK(ifc.socket(UD, AF_INET, SOCK_STREAM, 0) == -1 && errno == EINVAL, "unknown knob");
	ifc.free(UD);

	/* Without --so_flags packetdrill passes NULL. */
	load(so, NULL);
	fd = fresh(ifc.socket(UD, AF_INET, SOCK_STREAM, 0), "socket with default flags");
	teardown(&fd, 1, NULL);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2, "usage: harness LIB.so");
	open_own_descriptors();
	/* so_instance_init()'s flags. */
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE | RTLD_DEEPBIND);
	CHECK(h != NULL, "dlopen: %s", dlerror());
	init = (packetdrill_interface_init_t)dlsym(h, "packetdrill_interface_init");
	CHECK(init != NULL, "dlsym: %s", dlerror());
	passive(argv[1]);
	active(argv[1]);
	more_calls(argv[1]);
	edges(argv[1]);
	own_descriptors_intact("at the end");
	printf("harness: %d checks passed\n", checks);
	return 0;
}
