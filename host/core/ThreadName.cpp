#include "core/ThreadName.h"

#include <pthread.h>

#include <string>

namespace partyline {

void nameThisThread(std::string_view name) {
    std::string cut(name.substr(0, 15));
    pthread_setname_np(pthread_self(), cut.c_str());
}

ThreadNameScope::ThreadNameScope(std::string_view name) {
    if (pthread_getname_np(pthread_self(), previous_, sizeof previous_) != 0) previous_[0] = '\0';
    nameThisThread(name);
}

ThreadNameScope::~ThreadNameScope() {
    if (previous_[0] != '\0') pthread_setname_np(pthread_self(), previous_);
}

}  // namespace partyline
