//===- CudaDriver.cpp - GPUs with cuBLAS, cuDNN and NCCL ------------------===//
//
// The part of the cuda backend that calls CUDA: a DeviceApi per GPU and the
// NcclApi. Built into the plugin libtessel_cuda.so (its entry point is at the
// end), which tessel-run loads only for --backend cuda (CudaBackend.cpp).
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/CudaPlugin.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>
#ifdef TESSEL_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "runtime/cuda/CudaDevices.h"
#include "runtime/cuda/Kernels.h"

namespace tessel::cuda {
namespace {

absl::Status cudaStatus(cudaError_t error, const char *what) {
  if (error == cudaSuccess)
    return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorName(error),
                                          ": ", cudaGetErrorString(error)));
}

absl::Status ncclStatus(ncclResult_t result, const char *what) {
  if (result == ncclSuccess || result == ncclInProgress)
    return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": ", ncclGetErrorString(result)));
}

cudaDataType_t cudaType(DType type) {
  switch (type) {
  case DType::F16:
    return CUDA_R_16F;
  case DType::BF16:
    return CUDA_R_16BF;
  default:
    return CUDA_R_32F;
  }
}

ncclDataType_t ncclType(DType type) {
  switch (type) {
  case DType::F32:
    return ncclFloat32;
  case DType::F16:
    return ncclFloat16;
  case DType::BF16:
    return ncclBfloat16;
  case DType::I32:
    return ncclInt32;
  case DType::I64:
    return ncclInt64;
  default:
    return ncclUint8;
  }
}

ncclRedOp_t ncclOp(NcclReduction reduction) {
  return reduction == NcclReduction::Max   ? ncclMax
         : reduction == NcclReduction::Min ? ncclMin
                                           : ncclSum;
}

class CudaDeviceApi : public DeviceApi {
public:
  static absl::StatusOr<std::unique_ptr<CudaDeviceApi>> create(int ordinal) {
    auto api = std::unique_ptr<CudaDeviceApi>(new CudaDeviceApi(ordinal));
    if (absl::Status status = api->init(); !status.ok())
      return status;
    return api;
  }
  ~CudaDeviceApi() override {
    cudaSetDevice(gpu);
    for (cudaEvent_t event : events)
      cudaEventDestroy(event);
    for (cudaEvent_t event : planEvents)
      cudaEventDestroy(event);
#ifdef TESSEL_HAVE_CUDNN
    for (auto &[launch, conv] : convolutions) {
      cudnnDestroyTensorDescriptor(conv.x);
      cudnnDestroyTensorDescriptor(conv.y);
      cudnnDestroyFilterDescriptor(conv.w);
      cudnnDestroyConvolutionDescriptor(conv.op);
    }
    if (dnnWorkspace)
      cudaFree(dnnWorkspace);
    if (dnn)
      cudnnDestroy(dnn);
#endif
    if (blas)
      cublasDestroy(blas);
    for (cudaStream_t stream : streams)
      if (stream)
        cudaStreamDestroy(stream);
  }
  int ordinal() const { return gpu; }

  std::string describe() const override { return description; }
  absl::StatusOr<char *> allocate(uint64_t bytes) override {
    cudaSetDevice(gpu);
    void *data = nullptr;
    if (cudaError_t error = cudaMalloc(&data, bytes ? bytes : 1);
        error != cudaSuccess) {
      cudaGetLastError();
      return absl::ResourceExhaustedError(
          absl::StrCat("cudaMalloc of ", bytes,
                       " bytes failed: ", cudaGetErrorString(error)));
    }
    return static_cast<char *>(data);
  }
  void free(char *data) override {
    cudaSetDevice(gpu);
    cudaFree(data);
  }
  absl::Status toDevice(char *device, const void *host,
                        uint64_t bytes) override {
    cudaSetDevice(gpu);
    if (absl::Status status =
            cudaStatus(cudaMemcpyAsync(device, host, bytes,
                                       cudaMemcpyHostToDevice, compute()),
                       "copy to the device");
        !status.ok())
      return status;
    return cudaStatus(cudaStreamSynchronize(compute()), "copy to the device");
  }
  absl::Status toHost(void *host, const char *device, uint64_t bytes) override {
    cudaSetDevice(gpu);
    if (absl::Status status =
            cudaStatus(cudaMemcpyAsync(host, device, bytes,
                                       cudaMemcpyDeviceToHost, compute()),
                       "copy to the host");
        !status.ok())
      return status;
    return cudaStatus(cudaStreamSynchronize(compute()), "copy to the host");
  }
  absl::Status element(KernelKind kind, const void *, const void *deviceParams,
                       int64_t count) override {
    cudaSetDevice(gpu);
    return cudaStatus(launchElement(kind, deviceParams, count, active),
                      "kernel launch");
  }
  absl::Status gemm(const GemmLaunch &g) override {
    cudaSetDevice(gpu);
    for (int64_t value : {g.m, g.n, g.k, g.lda, g.ldb, g.ldc, g.batch})
      if (value > INT_MAX)
        return absl::UnimplementedError(absl::StrCat(
            "a GEMM dimension of ", value, " is past cuBLAS's 32-bit sizes"));
    float alpha = 1, beta = 0;
    cublasStatus_t status = cublasGemmStridedBatchedEx(
        blas, g.transA ? CUBLAS_OP_T : CUBLAS_OP_N,
        g.transB ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(g.m),
        static_cast<int>(g.n), static_cast<int>(g.k), &alpha, g.a,
        cudaType(g.type), static_cast<int>(g.lda), g.strideA, g.b,
        cudaType(g.type), static_cast<int>(g.ldb), g.strideB, &beta, g.c,
        cudaType(g.type), static_cast<int>(g.ldc), g.strideC,
        static_cast<int>(g.batch), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (status != CUBLAS_STATUS_SUCCESS)
      return absl::InternalError(absl::StrCat("cublasGemmStridedBatchedEx: ",
                                              cublasGetStatusString(status)));
    return absl::OkStatus();
  }
#ifdef TESSEL_HAVE_CUDNN
  bool hasConvolution() const override { return dnn != nullptr; }
  absl::Status convolution(const ConvLaunch &conv) override;
#endif
  absl::Status deviceCopy(void *dst, const void *src, int64_t bytes) override {
    cudaSetDevice(gpu);
    return cudaStatus(
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, active),
        "device copy");
  }
  absl::Status onStream(Stream stream,
                        const std::function<absl::Status()> &enqueue) override {
    cudaSetDevice(gpu);
    if (absl::Status status = use(streamOf(stream)); !status.ok())
      return status;
    absl::Status status = enqueue();
    absl::Status restored = use(compute());
    return status.ok() ? restored : status;
  }
  absl::Status record(int event, Stream stream) override {
    cudaSetDevice(gpu);
    absl::StatusOr<cudaEvent_t> handle = planEvent(event);
    if (!handle.ok())
      return handle.status();
    return described(cudaStatus(cudaEventRecord(*handle, streamOf(stream)),
                                "cudaEventRecord"));
  }
  absl::Status waitFor(int event, Stream stream) override {
    cudaSetDevice(gpu);
    absl::StatusOr<cudaEvent_t> handle = planEvent(event);
    if (!handle.ok())
      return handle.status();
    return described(
        cudaStatus(cudaStreamWaitEvent(streamOf(stream), *handle, 0),
                   "cudaStreamWaitEvent"));
  }
  absl::Status mark(int marker) override {
    cudaSetDevice(gpu);
    if (marker == 0)
      passed = 0;
    while (static_cast<int>(events.size()) <= marker) {
      cudaEvent_t event;
      if (absl::Status status = cudaStatus(
              cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
              "cudaEventCreate");
          !status.ok())
        return status;
      events.push_back(event);
    }
    marked = marker + 1;
    return cudaStatus(
        cudaEventRecord(events[marker], streamOf(Stream::Communication)),
        "cudaEventRecord");
  }
  absl::StatusOr<int> progress() override {
    cudaSetDevice(gpu);
    for (; passed < marked; ++passed) {
      cudaError_t error = cudaEventQuery(events[passed]);
      if (error == cudaErrorNotReady)
        return passed;
      if (error != cudaSuccess)
        return cudaStatus(error, "device work");
    }
    for (cudaStream_t stream : streams) {
      cudaError_t error = cudaStreamQuery(stream);
      if (error == cudaErrorNotReady)
        return marked; // Past the last collective, still computing.
      if (error != cudaSuccess)
        return cudaStatus(error, "device work");
    }
    return -1;
  }
  void *stream() override { return active; }

private:
  explicit CudaDeviceApi(int ordinal) : gpu(ordinal) {}
  absl::Status init() {
    if (absl::Status status = cudaStatus(cudaSetDevice(gpu), "cudaSetDevice");
        !status.ok())
      return status;
    cudaDeviceProp properties;
    if (absl::Status status = cudaStatus(
            cudaGetDeviceProperties(&properties, gpu), "device properties");
        !status.ok())
      return status;
    description = absl::StrCat("GPU ", gpu, " (", properties.name, ")");
    for (cudaStream_t &stream : streams)
      if (absl::Status status = cudaStatus(
              cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
              "cudaStreamCreate");
          !status.ok())
        return status;
    active = compute();
    if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS)
      return absl::InternalError("cublasCreate failed");
    cublasSetStream(blas, active);
#ifdef TESSEL_HAVE_CUDNN
    // Without a usable cuDNN, convolutions are planned as im2col + GEMM.
    if (cudnnCreate(&dnn) == CUDNN_STATUS_SUCCESS)
      cudnnSetStream(dnn, active);
    else
      dnn = nullptr;
#endif
    return absl::OkStatus();
  }
  cudaStream_t streamOf(Stream stream) const {
    return streams[stream == Stream::Compute ? 0 : 1];
  }
  cudaStream_t compute() const { return streamOf(Stream::Compute); }
  /// Makes `stream` the one launches, cuBLAS and cuDNN enqueue on.
  absl::Status use(cudaStream_t stream) {
    if (stream == active)
      return absl::OkStatus();
    active = stream;
    if (cublasSetStream(blas, stream) != CUBLAS_STATUS_SUCCESS)
      return absl::InternalError("cublasSetStream failed");
#ifdef TESSEL_HAVE_CUDNN
    if (dnn && cudnnSetStream(dnn, stream) != CUDNN_STATUS_SUCCESS)
      return absl::InternalError("cudnnSetStream failed");
#endif
    return absl::OkStatus();
  }
  /// The plan's event `event`, made at its first use.
  absl::StatusOr<cudaEvent_t> planEvent(int event) {
    if (event < 0)
      return absl::InvalidArgumentError(absl::StrCat("event ", event));
    while (static_cast<int>(planEvents.size()) <= event) {
      cudaEvent_t made;
      if (absl::Status status = described(cudaStatus(
              cudaEventCreateWithFlags(&made, cudaEventDisableTiming),
              "cudaEventCreate"));
          !status.ok())
        return status;
      planEvents.push_back(made);
    }
    return planEvents[event];
  }
  /// `status` naming this GPU.
  absl::Status described(const absl::Status &status) const {
    if (status.ok())
      return status;
    return absl::Status(status.code(),
                        absl::StrCat(description, ": ", status.message()));
  }
#ifdef TESSEL_HAVE_CUDNN
  /// A convolution's descriptors and algorithm, made at its first run.
  struct Convolution {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t op = nullptr;
    cudnnConvolutionFwdAlgo_t algorithm =
        CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t workspace = 0;
  };
  absl::StatusOr<Convolution *> describe(const ConvLaunch &conv);
  cudnnHandle_t dnn = nullptr;
  std::map<const ConvLaunch *, Convolution> convolutions;
  void *dnnWorkspace = nullptr;
  size_t dnnWorkspaceBytes = 0;
#endif

  int gpu;
  std::string description;
  /// The compute and the communication stream, and the one launches go on
  /// now (onStream).
  cudaStream_t streams[2] = {nullptr, nullptr};
  cudaStream_t active = nullptr;
  /// The plan's events (Launch::Type::Record and Wait).
  std::vector<cudaEvent_t> planEvents;
  cublasHandle_t blas = nullptr;
  std::vector<cudaEvent_t> events;
  int marked = 0, passed = 0;
};

#ifdef TESSEL_HAVE_CUDNN
absl::Status dnnStatus(cudnnStatus_t status, const char *what) {
  if (status == CUDNN_STATUS_SUCCESS)
    return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, ": ", cudnnGetErrorString(status)));
}

cudnnDataType_t dnnType(DType type) {
  return type == DType::F16    ? CUDNN_DATA_HALF
         : type == DType::BF16 ? CUDNN_DATA_BFLOAT16
                               : CUDNN_DATA_FLOAT;
}

absl::StatusOr<CudaDeviceApi::Convolution *>
CudaDeviceApi::describe(const ConvLaunch &conv) {
  auto found = convolutions.find(&conv);
  if (found != convolutions.end())
    return &found->second;
  Convolution &made = convolutions[&conv];
  // cuDNN's descriptors have at least 2 spatial dimensions: a 1-D
  // convolution is a 2-D one of height 1.
  int spatial = std::max(conv.spatial, 2);
  std::vector<int> x = {static_cast<int>(conv.n), static_cast<int>(conv.c)};
  std::vector<int> y = {static_cast<int>(conv.n), static_cast<int>(conv.k)};
  std::vector<int> w = {static_cast<int>(conv.k),
                        static_cast<int>(conv.c / conv.groups)};
  std::vector<int> padding, strides, dilations;
  for (int d = conv.spatial; d < spatial; ++d) {
    x.push_back(1);
    y.push_back(1);
    w.push_back(1);
    padding.push_back(0);
    strides.push_back(1);
    dilations.push_back(1);
  }
  for (int d = 0; d < conv.spatial; ++d) {
    x.push_back(static_cast<int>(conv.inSize[d]));
    y.push_back(static_cast<int>(conv.outSize[d]));
    w.push_back(static_cast<int>(conv.window[d]));
    padding.push_back(static_cast<int>(conv.padding[d]));
    strides.push_back(static_cast<int>(conv.strides[d]));
    dilations.push_back(static_cast<int>(conv.dilations[d]));
  }
  auto dense = [](const std::vector<int> &dims) {
    std::vector<int> strides(dims.size(), 1);
    for (int d = static_cast<int>(dims.size()) - 2; d >= 0; --d)
      strides[d] = strides[d + 1] * dims[d + 1];
    return strides;
  };
  cudnnDataType_t type = dnnType(conv.type);
  int rank = spatial + 2;
  for (absl::Status status : {
           dnnStatus(cudnnCreateTensorDescriptor(&made.x), "descriptor"),
           dnnStatus(cudnnCreateTensorDescriptor(&made.y), "descriptor"),
           dnnStatus(cudnnCreateFilterDescriptor(&made.w), "descriptor"),
           dnnStatus(cudnnCreateConvolutionDescriptor(&made.op), "descriptor"),
       })
    if (!status.ok())
      return status;
  std::vector<int> xStrides = dense(x), yStrides = dense(y);
  for (absl::Status status : {
           dnnStatus(cudnnSetTensorNdDescriptor(made.x, type, rank, x.data(),
                                                xStrides.data()),
                     "input descriptor"),
           dnnStatus(cudnnSetTensorNdDescriptor(made.y, type, rank, y.data(),
                                                yStrides.data()),
                     "output descriptor"),
           dnnStatus(cudnnSetFilterNdDescriptor(made.w, type, CUDNN_TENSOR_NCHW,
                                                rank, w.data()),
                     "filter descriptor"),
           // Accumulate in f32 for every type, as the host does.
           dnnStatus(cudnnSetConvolutionNdDescriptor(
                         made.op, spatial, padding.data(), strides.data(),
                         dilations.data(), CUDNN_CROSS_CORRELATION,
                         CUDNN_DATA_FLOAT),
                     "convolution descriptor"),
           dnnStatus(cudnnSetConvolutionGroupCount(
                         made.op, static_cast<int>(conv.groups)),
                     "group count"),
           // Tensor cores for f16/bf16 only: f32 stays f32 (no TF32).
           dnnStatus(
               cudnnSetConvolutionMathType(made.op, conv.type == DType::F32
                                                        ? CUDNN_FMA_MATH
                                                        : CUDNN_TENSOR_OP_MATH),
               "math type"),
       })
    if (!status.ok())
      return status;
  cudnnConvolutionFwdAlgoPerf_t candidates[8];
  int returned = 0;
  if (absl::Status status = dnnStatus(
          cudnnGetConvolutionForwardAlgorithm_v7(
              dnn, made.x, made.w, made.op, made.y, 8, &returned, candidates),
          "choosing a convolution algorithm");
      !status.ok())
    return status;
  bool chosen = false;
  for (int i = 0; i < returned && !chosen; ++i)
    if (candidates[i].status == CUDNN_STATUS_SUCCESS) {
      made.algorithm = candidates[i].algo;
      made.workspace = candidates[i].memory;
      chosen = true;
    }
  if (!chosen)
    return absl::UnimplementedError("cuDNN has no algorithm for this "
                                    "convolution");
  if (made.workspace > dnnWorkspaceBytes) {
    // Grown at a convolution's first run, never during later ones.
    if (dnnWorkspace)
      cudaFree(dnnWorkspace);
    if (absl::Status status = cudaStatus(
            cudaMalloc(&dnnWorkspace, made.workspace), "cuDNN workspace");
        !status.ok())
      return status;
    dnnWorkspaceBytes = made.workspace;
  }
  return &made;
}

absl::Status CudaDeviceApi::convolution(const ConvLaunch &conv) {
  cudaSetDevice(gpu);
  absl::StatusOr<Convolution *> made = describe(conv);
  if (!made.ok())
    return made.status();
  float alpha = 1, beta = 0;
  return dnnStatus(cudnnConvolutionForward(
                       dnn, &alpha, (*made)->x, conv.x, (*made)->w, conv.w,
                       (*made)->op, (*made)->algorithm, dnnWorkspace,
                       dnnWorkspaceBytes, &beta, (*made)->y, conv.y),
                   "cudnnConvolutionForward");
}
#endif

class Nccl : public NcclApi {
public:
  absl::StatusOr<NcclId> uniqueId() override {
    static_assert(sizeof(ncclUniqueId) == sizeof(NcclId));
    ncclUniqueId id;
    if (absl::Status status =
            ncclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId");
        !status.ok())
      return status;
    NcclId result;
    std::memcpy(result.bytes, &id, sizeof(id));
    return result;
  }
  absl::StatusOr<void *> join(const NcclId &id, const std::vector<int> &members,
                              int rank, DeviceApi &device) override {
    int size = static_cast<int>(members.size());
    auto *gpu = dynamic_cast<CudaDeviceApi *>(&device);
    if (!gpu)
      return absl::InvalidArgumentError("NCCL needs a GPU device");
    cudaSetDevice(gpu->ordinal());
    ncclUniqueId unique;
    std::memcpy(&unique, id.bytes, sizeof(unique));
    ncclComm_t comm;
    if (absl::Status status = ncclStatus(
            ncclCommInitRank(&comm, size, unique, rank), "ncclCommInitRank");
        !status.ok())
      return status;
    return static_cast<void *>(comm);
  }
  absl::StatusOr<std::vector<void *>>
  joinAll(const std::vector<int> &members,
          const std::vector<DeviceApi *> &devices) override {
    std::vector<int> ordinals;
    for (DeviceApi *device : devices) {
      auto *gpu = dynamic_cast<CudaDeviceApi *>(device);
      if (!gpu)
        return absl::InvalidArgumentError("NCCL needs GPU devices");
      ordinals.push_back(gpu->ordinal());
    }
    std::vector<ncclComm_t> comms(members.size());
    if (absl::Status status = ncclStatus(
            ncclCommInitAll(comms.data(), static_cast<int>(comms.size()),
                            ordinals.data()),
            "ncclCommInitAll");
        !status.ok())
      return status;
    return std::vector<void *>(comms.begin(), comms.end());
  }
  absl::Status groupStart() override {
    return ncclStatus(ncclGroupStart(), "ncclGroupStart");
  }
  absl::Status groupEnd() override {
    return ncclStatus(ncclGroupEnd(), "ncclGroupEnd");
  }
  absl::Status allReduce(const void *send, void *receive, int64_t count,
                         DType type, NcclReduction reduction, void *comm,
                         void *stream) override {
    return ncclStatus(ncclAllReduce(send, receive, count, ncclType(type),
                                    ncclOp(reduction),
                                    static_cast<ncclComm_t>(comm),
                                    static_cast<cudaStream_t>(stream)),
                      "ncclAllReduce");
  }
  absl::Status allGather(const void *send, void *receive, int64_t count,
                         DType type, void *comm, void *stream) override {
    return ncclStatus(ncclAllGather(send, receive, count, ncclType(type),
                                    static_cast<ncclComm_t>(comm),
                                    static_cast<cudaStream_t>(stream)),
                      "ncclAllGather");
  }
  absl::Status reduceScatter(const void *send, void *receive, int64_t count,
                             DType type, NcclReduction reduction, void *comm,
                             void *stream) override {
    return ncclStatus(ncclReduceScatter(send, receive, count, ncclType(type),
                                        ncclOp(reduction),
                                        static_cast<ncclComm_t>(comm),
                                        static_cast<cudaStream_t>(stream)),
                      "ncclReduceScatter");
  }
  absl::Status send(const void *data, int64_t bytes, int peer, void *comm,
                    void *stream) override {
    return ncclStatus(ncclSend(data, bytes, ncclUint8, peer,
                               static_cast<ncclComm_t>(comm),
                               static_cast<cudaStream_t>(stream)),
                      "ncclSend");
  }
  absl::Status receive(void *data, int64_t bytes, int peer, void *comm,
                       void *stream) override {
    return ncclStatus(ncclRecv(data, bytes, ncclUint8, peer,
                               static_cast<ncclComm_t>(comm),
                               static_cast<cudaStream_t>(stream)),
                      "ncclRecv");
  }
  absl::Status asyncError(void *comm) override {
    ncclResult_t result = ncclSuccess;
    if (absl::Status status = ncclStatus(
            ncclCommGetAsyncError(static_cast<ncclComm_t>(comm), &result),
            "ncclCommGetAsyncError");
        !status.ok())
      return status;
    return ncclStatus(result, "asynchronous NCCL error");
  }
  void abort(void *comm) override {
    std::lock_guard<std::mutex> lock(mutex);
    if (aborted.insert(comm).second)
      ncclCommAbort(static_cast<ncclComm_t>(comm));
  }
  void destroy(void *comm) override {
    std::lock_guard<std::mutex> lock(mutex);
    if (!aborted.count(comm))
      ncclCommDestroy(static_cast<ncclComm_t>(comm));
  }

private:
  std::mutex mutex;
  std::set<void *> aborted; // Freed by ncclCommAbort.
};

absl::StatusOr<std::unique_ptr<DeviceApi>> makeCudaDevice(int ordinal) {
  absl::StatusOr<std::unique_ptr<CudaDeviceApi>> api =
      CudaDeviceApi::create(ordinal);
  if (!api.ok())
    return api.status();
  return std::unique_ptr<DeviceApi>(std::move(*api));
}

std::shared_ptr<NcclApi> makeNccl() { return std::make_shared<Nccl>(); }

} // namespace

const CudaPluginApi &cudaPluginApi() {
  static const CudaPluginApi api = {kCudaPluginVersion, listCudaDevices,
                                    makeCudaDevice, makeNccl};
  return api;
}

} // namespace tessel::cuda

extern "C" __attribute__((visibility("default")))
const tessel::cuda::CudaPluginApi *
tessel_cuda_plugin() {
  return &tessel::cuda::cudaPluginApi();
}
