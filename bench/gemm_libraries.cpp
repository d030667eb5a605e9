//===- gemm_libraries.cpp - GEMM libraries on the models' shapes ----------===//
//
// Built three times by bench/gemm_libraries.sh, once per library
// (-DUSE_OPENBLAS, -DUSE_BLIS, neither: oneDNN). Prints, per shape, the time
// and GFLOP/s with 1 thread, with 2 threads each taking half the rows (the
// pool's split), and with the library's own 2 threads.
//
//===----------------------------------------------------------------------===//
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>
#include <cstring>
#include <omp.h>
#if defined(USE_OPENBLAS)
#include <cblas.h>
static void setThreads(int t) { openblas_set_num_threads(t); }
static void sgemm(bool ta, bool tb, long m, long n, long k, const float*a, long lda, const float*b, long ldb, float*c, long ldc) {
  cblas_sgemm(CblasRowMajor, ta?CblasTrans:CblasNoTrans, tb?CblasTrans:CblasNoTrans, m,n,k,1.f,a,lda,b,ldb,0.f,c,ldc);}
static const char*name="openblas";
#elif defined(USE_BLIS)
#include <blis.h>
static void setThreads(int t) { bli_thread_set_num_threads(t); }
static void sgemm(bool ta, bool tb, long m, long n, long k, const float*a, long lda, const float*b, long ldb, float*c, long ldc) {
  float one=1, zero=0;
  bli_sgemm(ta?BLIS_TRANSPOSE:BLIS_NO_TRANSPOSE, tb?BLIS_TRANSPOSE:BLIS_NO_TRANSPOSE, m,n,k,&one,(float*)a,lda,1,(float*)b,ldb,1,&zero,c,ldc,1);}
static const char*name="blis";
#else
#include <dnnl.h>
static void setThreads(int t) { omp_set_num_threads(t); }
static void sgemm(bool ta, bool tb, long m, long n, long k, const float*a, long lda, const float*b, long ldb, float*c, long ldc) {
  dnnl_sgemm(ta?'T':'N', tb?'T':'N', m,n,k,1.f,a,lda,b,ldb,0.f,c,ldc);}
static const char*name="onednn";
#endif
int main(int argc, char**argv){
  struct S{long m,n,k; int batch; const char*what;};
  S shapes[]={{512,1536,512,1,"qkv"},{512,512,512,1,"proj"},{512,2048,512,1,"mlp up"},{512,512,2048,1,"mlp down"},{512,4096,512,1,"lm head"},
   {128,128,64,32,"attn qk x32"},{128,64,128,32,"attn av x32"},{64,3136,576,1,"conv 3x3 64ch 56x56"},{128,784,1152,1,"conv 3x3 128ch 28x28"},{32,9216,27,1,"conv first 3ch"}};
  for (auto&s:shapes){
    std::vector<float> a(s.m*s.k*s.batch,1.f),b(s.k*s.n*s.batch,.5f),c(s.m*s.n*s.batch);
    for(size_t i=0;i<a.size();++i)a[i]=(i%7)*0.1f; for(size_t i=0;i<b.size();++i)b[i]=(i%5)*0.1f;
    auto run=[&](int mode){ // 0: 1 thread; 1: two threads split; 2: library 2 threads
      auto piece=[&](int t,int nt){ if(mode==1) setThreads(1);
        for(int bi=0;bi<s.batch;++bi){ const float*A=&a[bi*s.m*s.k],*B=&b[bi*s.k*s.n]; float*C=&c[bi*s.m*s.n];
          if(s.batch>1){ if(bi%nt!=t) continue; sgemm(false,false,s.m,s.n,s.k,A,s.k,B,s.n,C,s.n);} 
          else { long m0=s.m*t/nt,m1=s.m*(t+1)/nt; if (s.m < s.n*0 + 64 && nt>1){ long n0=s.n*t/nt,n1=s.n*(t+1)/nt; sgemm(false,false,s.m,n1-n0,s.k,A,s.k,B+n0,s.n,C+n0,s.n);} else sgemm(false,false,m1-m0,s.n,s.k,A+m0*s.k,s.k,B,s.n,C+m0*s.n,s.n);} } };
      auto once=[&]{ if(mode==1){ std::thread t1([&]{piece(1,2);}); piece(0,2); t1.join(); } else { setThreads(mode==2?2:1); piece(0,1);} };
      once(); once();
      int iters=0; auto t0=std::chrono::steady_clock::now(); double el=0;
      while(el<0.3){ once(); ++iters; el=std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count(); }
      return el/iters*1e3; };
    double flops=2.0*s.m*s.n*s.k*s.batch;
    double t0=run(0),t1=run(1),t2=run(2);
    printf("%-8s %-22s 1t %7.3f ms (%5.1f GF)  2t-split %7.3f ms (%5.1f GF)  2t-lib %7.3f ms (%5.1f GF)\n",name,s.what,t0,flops/t0/1e6,t1,flops/t1/1e6,t2,flops/t2/1e6);
  }
}
