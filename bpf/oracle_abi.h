/*
 * The on_cpu map's layout, shared by the eBPF program and the library.
 *
 * Array maps round each element up to 8 bytes, so one u32 per element would
 * not be packed. Each element is a chunk of ONSPIN_SLOTS_PER_CHUNK u32 slots
 * (4 KiB, a multiple of 8), so the mmapped map is one packed array:
 * slot[tid] holds cpu + 1 while thread `tid` runs, 0 otherwise.
 */
#ifndef ONSPIN_ORACLE_ABI_H
#define ONSPIN_ORACLE_ABI_H

#define ONSPIN_SLOTS_PER_CHUNK 1024

struct onspin_chunk {
  unsigned int slot[ONSPIN_SLOTS_PER_CHUNK];
};

#endif
