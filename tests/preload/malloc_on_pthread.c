/* A program whose malloc and free take a pthread mutex (as some allocators
 * do): onspin's own initialisation (choosing the oracle, loading the bpf
 * programs with libbpf, the statistics) allocates, so it reenters onspin
 * from inside onspin's slow path; and glibc frees a thread's buffers after
 * its key destructors ran, so a dying thread locks after its statistics
 * were retired. Must finish, with mutual exclusion; a fork child, which
 * exits at once, must not report its parent's calls as its own. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static char *heap, *heap_end;

/* A bump allocator: every block remembers its size; free does nothing. */
static void *bump(size_t size, size_t align) {
  if (align < 16) align = 16;
  pthread_mutex_lock(&heap_lock);
  if (heap == NULL) {
    heap = mmap(NULL, 1u << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1, 0);
    heap_end = heap + (1u << 30);
  }
  uintptr_t p = ((uintptr_t)heap + 16 + align - 1) & ~(uintptr_t)(align - 1);
  void *r = NULL;
  if (p + size <= (uintptr_t)heap_end) {
    ((size_t *)p)[-1] = size;
    heap = (char *)(p + size);
    r = (void *)p;
  }
  pthread_mutex_unlock(&heap_lock);
  return r;
}

void *malloc(size_t n) { return bump(n, 16); }
void free(void *p) {
  if (p == NULL) return;
  pthread_mutex_lock(&heap_lock); /* nothing to do but lock, as allocators do */
  pthread_mutex_unlock(&heap_lock);
}
void *calloc(size_t a, size_t b) {
  void *p = bump(a * b, 16);
  if (p) memset(p, 0, a * b);
  return p;
}
void *realloc(void *old, size_t n) {
  void *p = bump(n, 16);
  if (p && old) {
    size_t was = ((size_t *)old)[-1];
    memcpy(p, old, was < n ? was : n);
  }
  return p;
}
void *memalign(size_t align, size_t n) { return bump(n, align); }
void *aligned_alloc(size_t align, size_t n) { return bump(n, align); }
int posix_memalign(void **out, size_t align, size_t n) {
  *out = bump(n, align);
  return *out ? 0 : 12;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *work(void *arg) {
  (void)arg;
  for (int i = 0; i < 20000; ++i) {
    free(malloc(32)); /* contends on heap_lock */
    pthread_mutex_lock(&m);
    ++counter;
    pthread_mutex_unlock(&m);
  }
  strerror(98765); /* a per-thread buffer, freed after the thread's key destructors */
  return NULL;
}

int main(void) {
  pthread_t t[4];
  for (int i = 0; i < 4; ++i)
    pthread_create(&t[i], NULL, work, NULL);
  for (int i = 0; i < 4; ++i)
    pthread_join(t[i], NULL);
  /* Threads on the stacks of the exited ones, which glibc reuses. */
  for (int i = 0; i < 4; ++i)
    pthread_create(&t[i], NULL, work, NULL);
  for (int i = 0; i < 4; ++i)
    pthread_join(t[i], NULL);
  const pid_t child = fork();
  if (child == 0) exit(0);
  int status = 1;
  waitpid(child, &status, 0);
  return counter == 8 * 20000 && status == 0 ? 0 : 1;
}
