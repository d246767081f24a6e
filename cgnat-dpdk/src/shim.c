/*
 * cgnat-dpdk C shim: see shim.h. Every function here is a one-line,
 * out-of-line wrapper over a DPDK `static inline` function or macro, so
 * that the behaviour is exactly DPDK's (compiled with DPDK's own cflags
 * from `pkg-config --cflags libdpdk`).
 */
#define _GNU_SOURCE /* fopencookie */
#include <stdio.h>
#include <sys/types.h>

#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "shim.h"

uint16_t cgnat_rx_burst(uint16_t port_id, uint16_t queue_id,
			struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t cgnat_tx_burst(uint16_t port_id, uint16_t queue_id,
			struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *cgnat_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int cgnat_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			     unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void cgnat_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

char *cgnat_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

int cgnat_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

uint16_t cgnat_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

void cgnat_pktmbuf_reset(struct rte_mbuf *m)
{
	rte_pktmbuf_reset(m);
}

int cgnat_errno(void)
{
	return rte_errno;
}

unsigned int cgnat_lcore_id(void)
{
	return rte_lcore_id();
}

uint64_t cgnat_get_tsc_cycles(void)
{
	return rte_get_tsc_cycles();
}

uint64_t cgnat_get_tsc_hz(void)
{
	return rte_get_tsc_hz();
}

unsigned int cgnat_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs,
					 unsigned int n)
{
	return rte_ring_sp_enqueue_burst(r, objs, n, NULL);
}

unsigned int cgnat_ring_sc_dequeue_burst(struct rte_ring *r, void **objs,
					 unsigned int n)
{
	return rte_ring_sc_dequeue_burst(r, objs, n, NULL);
}

unsigned int cgnat_ring_count(const struct rte_ring *r)
{
	return rte_ring_count(r);
}

unsigned int cgnat_ring_free_count(const struct rte_ring *r)
{
	return rte_ring_free_count(r);
}

uint64_t cgnat_eth_rss_ip(void)
{
	return RTE_ETH_RSS_IP;
}

uint64_t cgnat_eth_rx_offload_timestamp(void)
{
	return RTE_ETH_RX_OFFLOAD_TIMESTAMP;
}

uint64_t cgnat_eth_rx_offload_scatter(void)
{
	return RTE_ETH_RX_OFFLOAD_SCATTER;
}

uint64_t cgnat_eth_tx_offload_multi_segs(void)
{
	return RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
}

static cgnat_log_sink log_sink;

/* rte_vlog writes one message and flushes: each call is one message. */
static ssize_t cgnat_log_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	if (log_sink != NULL)
		log_sink((uint32_t)rte_log_cur_msg_loglevel(), buf, size);
	return (ssize_t)size;
}

int cgnat_log_redirect(cgnat_log_sink sink)
{
	cookie_io_functions_t io = { .write = cgnat_log_write };
	FILE *f;

	log_sink = sink;
	f = fopencookie(NULL, "w", io);
	if (f == NULL)
		return -1;
	return rte_openlog_stream(f);
}
