/*
 * udpgen: the traffic generator of the side-by-side benchmark
 * (tests/bench/sidebyside.sh). Sends 64-byte Ethernet frames (UDP over
 * IPv4) through an AF_PACKET socket with sendmmsg, in batches, from
 * subscriber addresses SRC_BASE + s (s < SUBS) and ports 10000 + f
 * (f < FLOWS) to DST:DPORT.
 *
 *   udpgen IFACE DST_MAC SRC_BASE SUBS FLOWS DST DPORT MODE SECONDS MAX
 *
 * MODE new: every frame opens a new flow (flow k = subscriber k % SUBS,
 * port k / SUBS), stopping after SUBS*FLOWS frames; MODE steady: cycles
 * over the same flows. Stops after SECONDS or MAX frames, whichever first.
 * Prints "sent N secs S". Bounded in count and time by construction.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <errno.h>

#define BATCH 64
#define FRAME 60

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

int main(int argc, char **argv)
{
	if (argc != 11) {
		fprintf(stderr, "usage: udpgen IFACE DST_MAC SRC_BASE SUBS FLOWS DST DPORT new|steady SECONDS MAX\n");
		return 2;
	}
	unsigned mac[6];
	if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
		fprintf(stderr, "udpgen: bad MAC %s\n", argv[2]);
		return 2;
	}
	uint32_t src_base = ntohl(inet_addr(argv[3]));
	uint64_t subs = strtoull(argv[4], 0, 10), flows = strtoull(argv[5], 0, 10);
	uint32_t dst = ntohl(inet_addr(argv[6]));
	uint16_t dport = atoi(argv[7]);
	int new_mode = strcmp(argv[8], "new") == 0;
	double secs = atof(argv[9]);
	uint64_t max = strtoull(argv[10], 0, 10);
	uint64_t total = subs * flows;
	if (new_mode && max > total)
		max = total;

	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("udpgen: socket");
		return 1;
	}
	int one = 1, buf = 4 << 20;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = if_nametoindex(argv[1]), .sll_halen = 6 };
	if (!sll.sll_ifindex) {
		fprintf(stderr, "udpgen: no interface %s\n", argv[1]);
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
	uint64_t sent = 0, k = 0, enobufs = 0;
	double t0 = now(), end = t0 + secs;
	while (sent < max) {
		int n = BATCH;
		if (max - sent < (uint64_t)n)
			n = max - sent;
		for (int i = 0; i < n; i++, k++) {
			uint64_t fl = k % total;
			uint32_t s = htonl(src_base + (uint32_t)(fl % subs));
			uint16_t sp = 10000 + (uint16_t)(fl / subs);
			uint8_t *ip = frames[i] + 14;
			memcpy(ip + 12, &s, 4);
			ip[10] = ip[11] = 0;
			uint16_t c = csum(ip, 20);
			ip[10] = c >> 8; ip[11] = c & 0xff;
			ip[20] = sp >> 8; ip[21] = sp & 0xff;
		}
		int r = sendmmsg(fd, msg, n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				enobufs++;
				k -= n;
				if (now() > end)
					break;
				continue;
			}
			perror("udpgen: sendmmsg");
			return 1;
		}
		k -= n - r;
		sent += r;
		if (now() > end)
			break;
	}
	printf("sent %llu secs %.4f enobufs %llu\n", (unsigned long long)sent, now() - t0, (unsigned long long)enobufs);
	return 0;
}
