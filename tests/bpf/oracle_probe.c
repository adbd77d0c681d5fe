/* Run by the bpf tests under other users and capabilities: reports the
 * oracle this process gets and why, and (with "write") tries to write the
 * pinned maps through both routes a forger would use.
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

/* Tries both routes on one pinned map, with a value of `size` bytes:
 * 0 if both were refused, 1 if one worked, 2 if the pin cannot be opened. */
static int try_writes_to(const char *pin, size_t size) {
  int fd = bpf_obj_get(pin);
  if (fd < 0) {
    printf("open %s: %s\n", pin, strerror(errno));
    return 2;
  }
  static unsigned value[1024];
  unsigned key = 0;
  value[1] = 1; /* on_cpu: TID 1 runs on CPU 0; cpu_load: a made-up count */
  int update = size <= sizeof value ? bpf_map_update_elem(fd, &key, value, BPF_ANY) : -1;
  printf("%s update: %s\n", pin, update == 0 ? "ALLOWED" : strerror(errno));
  void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  printf("%s writable mmap: %s\n", pin, p != MAP_FAILED ? "ALLOWED" : strerror(errno));
  close(fd);
  return update == 0 || p != MAP_FAILED ? 1 : 0;
}

static int try_writes(void) {
  int on_cpu = try_writes_to("/sys/fs/bpf/onspin/on_cpu", 4096);
  int cpu_load = try_writes_to("/sys/fs/bpf/onspin/cpu_load", 64);
  return on_cpu > cpu_load ? on_cpu : cpu_load;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "write") == 0) return try_writes();
  printf("oracle=%s\nreason=%s\n", onspin_oracle_name(), onspin_oracle_reason());
  return 0;
}
