/* transport/h2/reflection: gRPC server reflection (grpc.reflection.v1 and v1alpha, whose messages
 * are the same), so grpcurl and other tools work without the .proto files. Serves the files
 * compiled into the binary: sluice/v1/envelope.proto (sluice.v1.Ingest), its imports, and
 * grpc/health/v1/health.proto. */
#ifndef SL_TRANSPORT_H2_REFLECTION_H
#define SL_TRANSPORT_H2_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* The ServerReflectionResponse for one ServerReflectionRequest (req, len bytes), appended to
 * out: list_services, file_by_filename, file_containing_symbol; anything else (or an unknown
 * name) an error_response with NOT_FOUND or UNIMPLEMENTED. */
void sl_reflection_answer(const uint8_t *req, size_t len, sl_buf_t *out);

#endif
