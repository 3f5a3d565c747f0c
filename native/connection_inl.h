// connection_inl.h: Connection's inline steps that need the Server's
// definition (server.h includes connection.h), for connection.cc and
// connection_respond.cc.
#ifndef TSGI_CONNECTION_INL_H_
#define TSGI_CONNECTION_INL_H_

#include "connection.h"
#include "exchange.h"
#include "server.h"

namespace tsgi {

inline bool Connection::TakeExchange() {
  if (ex_ != nullptr) return true;
  Exchange* ex = server_->exchanges().Take();
  if (ex == nullptr) return false;
  if (ex->ready) {
    // From the pool: at rest (ExchangePool's invariant), only its owner
    // changes.
    ex->parser.Rebind(this);
    ex->writer.Rebind(this, stream());
  } else {
    PrepareExchange(ex);
  }
  ex_ = ex;
  return true;
}

}  // namespace tsgi

#endif  // TSGI_CONNECTION_INL_H_
