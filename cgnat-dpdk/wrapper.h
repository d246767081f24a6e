/*
 * Input of bindgen (see build.rs): the DPDK headers cgnat-dpdk uses, plus
 * the prototypes of the C shim for DPDK's static-inline fast path.
 */
#include <rte_config.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_dev.h>

#include "src/shim.h"
