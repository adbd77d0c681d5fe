/* Stand-in for the config.h that glibc's configure generates; the tests and
   support/ are built against the installed glibc, so only the few macros
   they read are defined here, with the values of Debian's glibc build.  */
#ifndef ONSPIN_GLIBC_NPTL_CONFIG_H
#define ONSPIN_GLIBC_NPTL_CONFIG_H
/* support_test_main.c scales each test's TIMEOUT by this.  */
#define TIMEOUTFACTOR 1
/* Debian builds glibc 2.36 with tunables; tst-mutex8 reads them.  */
#define HAVE_TUNABLES 1
#endif
