/*
 * cgnat-dpdk C shim: out-of-line wrappers for DPDK's `static inline` API.
 *
 * DPDK implements its fast path (rx/tx burst, mbuf alloc/free, rte_errno,
 * rte_lcore_id, TSC, rings) as `static inline` functions or macros in its
 * headers. They have no symbol in any shared library, so Rust cannot call
 * them directly. This file declares one exported wrapper per function;
 * src/shim.c implements each one as a single call to the inline original.
 * bindgen reads this header (through wrapper.h) so the Rust declarations
 * always match these prototypes.
 */
#ifndef CGNAT_DPDK_SHIM_H
#define CGNAT_DPDK_SHIM_H

#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

/* ---- ethdev fast path ---- */
uint16_t cgnat_rx_burst(uint16_t port_id, uint16_t queue_id,
			struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t cgnat_tx_burst(uint16_t port_id, uint16_t queue_id,
			struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* ---- mbufs ---- */
struct rte_mbuf *cgnat_pktmbuf_alloc(struct rte_mempool *mp);
int cgnat_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			     unsigned int count);
void cgnat_pktmbuf_free(struct rte_mbuf *m);
/* Returns a pointer to the appended area, or NULL if there is no room. */
char *cgnat_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
/* Returns 0 on success, -1 if len > data_len of the last segment. */
int cgnat_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t cgnat_pktmbuf_tailroom(const struct rte_mbuf *m);
/* Reset data offset/lengths to those of a freshly allocated mbuf. */
void cgnat_pktmbuf_reset(struct rte_mbuf *m);

/* ---- EAL ---- */
int cgnat_errno(void);
unsigned int cgnat_lcore_id(void);
uint64_t cgnat_get_tsc_cycles(void);
uint64_t cgnat_get_tsc_hz(void);

/* ---- rings (pointer rings) ---- */
unsigned int cgnat_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs,
					 unsigned int n);
unsigned int cgnat_ring_sc_dequeue_burst(struct rte_ring *r, void **objs,
					 unsigned int n);
unsigned int cgnat_ring_count(const struct rte_ring *r);
unsigned int cgnat_ring_free_count(const struct rte_ring *r);

/* ---- values of function-like macros (RTE_BIT64 based) ---- */
uint64_t cgnat_eth_rss_ip(void);
uint64_t cgnat_eth_rx_offload_timestamp(void);
uint64_t cgnat_eth_rx_offload_scatter(void);
uint64_t cgnat_eth_tx_offload_multi_segs(void);

/* ---- DPDK's log into the daemon's own log ---- */
/* Called once per DPDK log message: its level (RTE_LOG_EMERG 1 ..
 * RTE_LOG_DEBUG 8), the text (not NUL-terminated) and its length. */
typedef void (*cgnat_log_sink)(uint32_t level, const char *msg, size_t len);
/* Replaces DPDK's default log stream (stderr and syslog, so every line
 * twice in the journal) by a stream that hands each message to `sink`.
 * 0 on success, -1 if the stream cannot be made. */
int cgnat_log_redirect(cgnat_log_sink sink);

#endif /* CGNAT_DPDK_SHIM_H */
