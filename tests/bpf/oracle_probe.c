/* Run by the bpf tests under other users and capabilities: reports the
 * oracle this process gets and why, and (with "write") tries to write the
 * pinned map through both routes a forger would use.
 *   oracle_probe          prints oracle=NAME and reason=TEXT
 *   oracle_probe write    exit 0 if every write was refused, 1 if one worked,
 *                         2 if the pin could not be opened at all */
#define _DEFAULT_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <onspin/onspin.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int try_writes(void) {
  int fd = bpf_obj_get("/sys/fs/bpf/onspin/on_cpu");
  if (fd < 0) {
    printf("open: %s\n", strerror(errno));
    return 2;
  }
  static unsigned chunk[1024];
  unsigned key = 0;
  chunk[1] = 1; /* claim that TID 1 runs on CPU 0 */
  int update = bpf_map_update_elem(fd, &key, chunk, BPF_ANY);
  printf("update: %s\n", update == 0 ? "ALLOWED" : strerror(errno));
  void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  printf("writable mmap: %s\n", p != MAP_FAILED ? "ALLOWED" : strerror(errno));
  return update == 0 || p != MAP_FAILED ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "write") == 0) return try_writes();
  printf("oracle=%s\nreason=%s\n", onspin_oracle_name(), onspin_oracle_reason());
  return 0;
}
