/*
 * udpgen: the traffic generator of the side-by-side benchmark
 * (tests/bench/sidebyside.sh). Sends 64-byte Ethernet frames (UDP over
 * IPv4) through an AF_PACKET socket with sendmmsg, in batches, from
 * subscriber addresses SRC + s (s < SUBS) and ports 10000 + p to DST:DPORT.
 * Flow k is subscriber k % SUBS, source port 10000 + k / SUBS.
 *
 *   udpgen --iface IF --dst-mac MAC --src A.B.C.D --subs N --dst A.B.C.D
 *          --dport P --mode new|steady [--first K] [--count N] [--flows F]
 *          [--seconds S] [--rate PPS]
 *
 * --mode new: frames for flows first .. first+count-1, one frame each:
 *   every frame opens a new flow (fails if a source port would pass 65535).
 * --mode steady: cycles over flows 0 .. flows-1 (already opened), count
 *   frames or for --seconds, whichever first.
 * --rate: offer frames at this many per second (paced in small batches,
 *   sleeping until each is due); 0 (default) sends as fast as the socket
 *   takes them. The achieved rate is printed: a rate the generator cannot
 *   reach shows as achieved < rate.
 *
 * Prints one line: "sent N secs S enobufs E achieved R" (frames handed to
 * the interface, wall time from the first to the last send, send calls
 * refused with ENOBUFS/EAGAIN and retried, frames per second).
 * Bounded in count and time by construction (--seconds defaults to 60).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 64
#define FRAME 60
#define SPORT_BASE 10000u

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static uint16_t csum(const uint8_t *p, int n)
{
	uint32_t s = 0;
	for (int i = 0; i < n; i += 2)
		s += (p[i] << 8) | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "udpgen: %s\n", why);
	fprintf(stderr, "usage: udpgen --iface IF --dst-mac MAC --src A.B.C.D --subs N --dst A.B.C.D --dport P\n"
			"              --mode new|steady [--first K] [--count N] [--flows F] [--seconds S] [--rate PPS]\n");
	exit(2);
}

static uint64_t num(const char *opt, const char *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || !*v) {
		fprintf(stderr, "udpgen: %s: not a count: '%s'\n", opt, v);
		exit(2);
	}
	return x;
}

static uint32_t addr(const char *opt, const char *v)
{
	struct in_addr a;
	if (inet_pton(AF_INET, v, &a) != 1) {
		fprintf(stderr, "udpgen: %s: not an IPv4 address: '%s'\n", opt, v);
		exit(2);
	}
	return ntohl(a.s_addr);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iface", required_argument, 0, 'i' }, { "dst-mac", required_argument, 0, 'm' },
		{ "src", required_argument, 0, 's' },	{ "subs", required_argument, 0, 'n' },
		{ "dst", required_argument, 0, 'd' },	{ "dport", required_argument, 0, 'p' },
		{ "mode", required_argument, 0, 'M' },	{ "first", required_argument, 0, 'f' },
		{ "count", required_argument, 0, 'c' }, { "flows", required_argument, 0, 'F' },
		{ "seconds", required_argument, 0, 'S' }, { "rate", required_argument, 0, 'r' },
		{ 0, 0, 0, 0 },
	};
	const char *iface = 0, *macs = 0, *mode = 0;
	uint32_t src_base = 0, dst = 0;
	uint64_t subs = 0, first = 0, count = UINT64_MAX, flows = 0, rate = 0, dport = 0;
	double secs = 60;
	int have_src = 0, have_dst = 0, o;
	while ((o = getopt_long(argc, argv, "", opts, 0)) != -1) {
		switch (o) {
		case 'i': iface = optarg; break;
		case 'm': macs = optarg; break;
		case 's': src_base = addr("--src", optarg); have_src = 1; break;
		case 'n': subs = num("--subs", optarg); break;
		case 'd': dst = addr("--dst", optarg); have_dst = 1; break;
		case 'p': dport = num("--dport", optarg); break;
		case 'M': mode = optarg; break;
		case 'f': first = num("--first", optarg); break;
		case 'c': count = num("--count", optarg); break;
		case 'F': flows = num("--flows", optarg); break;
		case 'S': secs = atof(optarg); break;
		case 'r': rate = num("--rate", optarg); break;
		default: usage(0);
		}
	}
	if (optind != argc)
		usage("unexpected argument");
	if (!iface || !macs || !mode || !have_src || !have_dst || !subs || !dport || dport > 65535)
		usage("--iface, --dst-mac, --src, --subs (> 0), --dst, --dport (1..65535) and --mode are required");
	if (!(secs > 0 && secs <= 600))
		usage("--seconds must be in (0, 600]");
	int new_mode;
	if (strcmp(mode, "new") == 0) {
		new_mode = 1;
		if (count == UINT64_MAX)
			usage("--mode new needs --count");
		if (count && SPORT_BASE + (first + count - 1) / subs > 65535)
			usage("--first + --count pass source port 65535: use more --subs");
	} else if (strcmp(mode, "steady") == 0) {
		new_mode = 0;
		if (!flows || SPORT_BASE + (flows - 1) / subs > 65535)
			usage("--mode steady needs --flows (> 0, source ports up to 65535)");
	} else {
		usage("--mode must be new or steady");
	}
	unsigned mac[6];
	if (sscanf(macs, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6)
		usage("--dst-mac: not a MAC address");

	/* Wake up on time when pacing (the default slack is 50 us). */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("udpgen: socket");
		return 1;
	}
	int one = 1, buf = 4 << 20;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = if_nametoindex(iface), .sll_halen = 6 };
	if (!sll.sll_ifindex) {
		fprintf(stderr, "udpgen: no interface %s\n", iface);
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
		perror("udpgen: bind");
		return 1;
	}
	static uint8_t frames[BATCH][FRAME];
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
	memset(msg, 0, sizeof msg);
	for (int i = 0; i < BATCH; i++) {
		uint8_t *f = frames[i];
		memset(f, 0, FRAME);
		for (int j = 0; j < 6; j++)
			f[j] = mac[j];
		f[6] = 0x02; f[7] = 0xbe; f[8] = 0x9c; f[11] = 0x01;
		f[12] = 0x08;
		uint8_t *ip = f + 14;
		ip[0] = 0x45; ip[3] = 46; ip[6] = 0x40; ip[8] = 64; ip[9] = 17;
		uint32_t d = htonl(dst);
		memcpy(ip + 16, &d, 4);
		uint8_t *u = ip + 20;
		u[2] = dport >> 8; u[3] = dport & 0xff;
		u[5] = 26;
		iov[i].iov_base = f;
		iov[i].iov_len = FRAME;
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	/* Paced: small batches (about one per 20 us), so that no router sees
	 * bursts far above the offered rate. */
	int batch = BATCH;
	if (rate) {
		batch = rate / 50000;
		batch = batch < 1 ? 1 : batch > BATCH ? BATCH : batch;
	}
	uint64_t sent = 0, k = 0, enobufs = 0, max = count;
	double t0 = now(), end = t0 + secs, t;
	while (sent < max) {
		int n = batch;
		if (max - sent < (uint64_t)n)
			n = max - sent;
		for (int i = 0; i < n; i++) {
			uint64_t fl = new_mode ? first + k + i : (k + i) % flows;
			uint32_t s = htonl(src_base + (uint32_t)(fl % subs));
			uint16_t sp = SPORT_BASE + (uint16_t)(fl / subs);
			uint8_t *ip = frames[i] + 14;
			memcpy(ip + 12, &s, 4);
			ip[10] = ip[11] = 0;
			uint16_t c = csum(ip, 20);
			ip[10] = c >> 8; ip[11] = c & 0xff;
			ip[20] = sp >> 8; ip[21] = sp & 0xff;
		}
		if (rate) {
			/* Sleep, not spin, until the batch is due: the kernel work the
			 * frames cause on this CPU (the veth's NAPI poll, XDP, the
			 * AF_PACKET receive) may run in ksoftirqd, which a spinning
			 * generator would starve. */
			double due = t0 + (double)sent / rate;
			if (due > now()) {
				struct timespec ts = { .tv_sec = (time_t)due, .tv_nsec = (long)((due - (time_t)due) * 1e9) };
				while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, 0) == EINTR)
					;
			}
		}
		int r = sendmmsg(fd, msg, n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				enobufs++;
				if (now() > end)
					break;
				continue;
			}
			perror("udpgen: sendmmsg");
			return 1;
		}
		k += r;
		sent += r;
		if ((t = now()) > end)
			break;
	}
	double el = now() - t0;
	printf("sent %llu secs %.4f enobufs %llu achieved %.0f\n", (unsigned long long)sent, el,
	       (unsigned long long)enobufs, el > 0 ? sent / el : 0.0);
	return 0;
}
