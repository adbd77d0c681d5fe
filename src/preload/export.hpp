// Exports a function under a versioned glibc symbol name. glibc versions
// its pthread symbols, and a program binds to the version it was linked
// against (pthread_cond_wait@GLIBC_2.3.2 today, @GLIBC_2.2.5 in binaries
// older than 2003, which pass another object layout): the interposer must
// define each version it replaces, or those callers would bypass it. Each
// version gets an alias of the implementation, and the assembler's .symver
// names it; exports.map declares the version nodes.
//   ONSPIN_EXPORT(impl, tag, "pthread_mutex_lock@@GLIBC_2.2.5")
// "@@" marks the default version (what new links bind to), "@" an older one.
#pragma once

#define ONSPIN_EXPORT(impl, tag, versioned_name)                                                   \
  extern "C" decltype(impl) impl##_##tag __attribute__((alias(#impl), visibility("default")));     \
  __asm__(".symver " #impl "_" #tag ", " versioned_name)
