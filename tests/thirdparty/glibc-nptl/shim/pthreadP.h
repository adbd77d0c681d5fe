/* tst-robust8/tst-robustpi8 include glibc's internal <pthreadP.h> only for a
   diagnostic print under __PTHREAD_NPTL; that internal header cannot be used
   with the installed glibc, so it is empty here and the print is left out.  */
